"""One bed host: an overlay root over a cached image, booted by systemd-nspawn in its own cgroup."""

import os
import pathlib
import shutil
import signal
import subprocess
import time
import uuid

from . import config as C
from .sh import BedError, run, say, wait_gone, write

CGROUP_ROOT = pathlib.Path("/sys/fs/cgroup")
# Hybrid machines (v1 controllers, v2 at unified) need the host's cgroup in each hierarchy
# nspawn and the bed use; a pure cgroup v2 machine has one tree.
HYBRID = (CGROUP_ROOT / "unified").is_dir()
HIERARCHIES = ("systemd", "unified", "freezer") if HYBRID else ("",)
V2 = "unified" if HYBRID else ""


class Host:
    def __init__(self, name, os_name, address):
        self.name, self.os, self.address = name, os_name, address
        self.dir = C.STATE / "hosts" / name
        self.root = self.dir / "root"
        self.console = self.dir / "console.log"
        self.pidfile = self.dir / "nspawn.pid"

    # --- where things are -------------------------------------------------------------
    def cgroup(self, hierarchy=V2):
        return CGROUP_ROOT / hierarchy / C.CGROUP_GROUP / self.name

    @property
    def veth(self):
        return ("vb-" + self.name)[:15]

    def mounted(self):
        return str(self.root) in _mountpoints()

    def nspawn_pid(self):
        try:
            pid = int(self.pidfile.read_text())
            if b"systemd-nspawn" in pathlib.Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
        except (OSError, ValueError):
            pass
        return None

    def running(self):
        return self.nspawn_pid() is not None

    def init_pid(self):
        """The host-side PID of the container's PID 1, or None."""
        for hierarchy in HIERARCHIES[:2]:
            procs = self.cgroup(hierarchy) / "payload" / "init.scope" / "cgroup.procs"
            try:
                pids = procs.read_text().split()
            except OSError:
                continue
            for pid in pids:
                if pathlib.Path(f"/proc/{pid}/comm").read_text().strip() == "systemd":
                    return int(pid)
        return None

    # --- lifecycle --------------------------------------------------------------------
    def create(self, image, minion_key_dir):
        """Lay a fresh root over IMAGE, with this host's identity and keys."""
        for sub in ("upper", "work", "root"):
            (self.dir / sub).mkdir(parents=True, exist_ok=True)
        self.mount(image)
        write(self.root / "etc/hostname", f"{self.name}\n")
        write(self.root / "etc/machine-id", uuid.uuid4().hex + "\n", 0o444)
        write(self.root / "etc/salt/minion_id", f"{self.name}\n")
        pki = self.root / "etc/salt/pki/minion"
        pki.mkdir(parents=True, exist_ok=True)
        shutil.copy(minion_key_dir / "minion.pem", pki / "minion.pem")
        shutil.copy(minion_key_dir / "minion.pub", pki / "minion.pub")
        (pki / "minion.pem").chmod(0o400)
        write(self.root / "etc/systemd/network/80-bed.network",
              f"[Match]\nName=host0\n\n[Network]\nAddress={self.address}/{C.PREFIXLEN}\n"
              "LinkLocalAddressing=no\nIPv6AcceptRA=no\n")
        # A dead peer must not look reachable for long (see the failover notes).
        write(self.root / "etc/sysctl.d/80-bed.conf",
              "net.ipv4.neigh.host0.base_reachable_time_ms = 2000\n")

    def mount(self, image):
        if self.mounted():
            return
        run(["mount", "-t", "overlay", "overlay", "-o",
             f"lowerdir={image},upperdir={self.dir / 'upper'},workdir={self.dir / 'work'}",
             str(self.root)])

    def write_hosts(self, hosts):
        lines = ["127.0.0.1 localhost"] + [f"{h.address} {h.name}" for h in hosts]
        write(self.root / "etc/hosts", "\n".join(lines) + "\n")

    def start(self):
        if self.running():
            return
        for hierarchy in HIERARCHIES:
            # A host that lost power leaves its old cgroups behind; a new systemd that
            # finds them kills what it starts in them.
            for stale in ("payload", "supervisor"):
                _rmtree_cgroup(self.cgroup(hierarchy) / stale)
            self.cgroup(hierarchy).mkdir(parents=True, exist_ok=True)
        procs = [self.cgroup(h) / "cgroup.procs" for h in HIERARCHIES]

        def own_cgroup():
            # Each host gets its own cgroup, so it can be killed, frozen and measured alone.
            os.setsid()
            for path in procs:
                path.write_text(str(os.getpid()))

        cmd = ["systemd-nspawn", "--register=no", "--keep-unit", "--boot", "-D", str(self.root),
               f"--machine={self.name}", f"--network-bridge={C.BRIDGE}", "--resolv-conf=off",
               "--link-journal=no", "--console=read-only", f"--bind-ro={C.HOST_CA}:{C.GUEST_CA}"]
        with open(self.console, "ab") as log:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                    preexec_fn=own_cgroup, close_fds=True)
        self.pidfile.write_text(str(proc.pid))

    def wait_booted(self, timeout=90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running():
                break
            pid = self.init_pid()
            if pid:
                state = run(["nsenter", "-t", str(pid), "-a", "systemctl", "is-system-running"],
                            check=False).stdout.strip()
                if state in ("running", "degraded"):
                    return
            time.sleep(0.3)
        tail = self.console.read_text(errors="replace")[-3000:] if self.console.exists() else ""
        raise BedError(f"host {self.name} did not boot; its console log ends with:\n{tail}")

    def stop(self, timeout=20):
        """A clean shutdown; power off by force if it takes longer than TIMEOUT."""
        nspawn = self.nspawn_pid()
        if nspawn is None:
            return
        init = self.init_pid()
        if init:
            os.kill(init, signal.SIGRTMIN + 3)
        if not wait_gone([nspawn], timeout):
            self.kill()

    def kill(self):
        """Power loss: every process of the host dies at once. Returns when (epoch seconds),
        None when the host was not running."""
        nspawn = self.nspawn_pid()
        if nspawn is None:
            return None
        killfile = self.cgroup() / "payload" / "cgroup.kill"
        killed = time.time()
        if killfile.exists():
            killfile.write_text("1")
        elif self.init_pid():
            os.kill(self.init_pid(), signal.SIGKILL)
        if not wait_gone([nspawn], 15):
            raise BedError(f"host {self.name} did not die")
        return killed

    def freeze(self, frozen=True):
        path = self.cgroup() / "payload" / "cgroup.freeze"
        if not path.exists():
            raise BedError(f"host {self.name} is not running")
        path.write_text("1" if frozen else "0")

    def remove(self, wipe=False):
        """Stop, unmount and drop the cgroups; WIPE also deletes the host's disk."""
        self.stop()
        if self.mounted():
            run(["umount", str(self.root)])
        for hierarchy in HIERARCHIES:
            _rmtree_cgroup(self.cgroup(hierarchy))
        if wipe:
            shutil.rmtree(self.dir, ignore_errors=True)

    def sh(self, *cmd, check=False, timeout=600, input=None):
        pid = self.init_pid()
        if not pid:
            raise BedError(f"host {self.name} is not running")
        env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
               "LANG": "C.UTF-8", "HOME": "/root", "TERM": os.environ.get("TERM", "dumb")}
        return run(["nsenter", "-t", str(pid), "-a", "--", *cmd], check=check,
                   timeout=timeout, input=input, env=env)

    def netns(self, *cmd, input=None):
        """Run a tool of the machine inside the host's network namespace only."""
        pid = self.init_pid()
        if not pid:
            raise BedError(f"host {self.name} is not running")
        return run(["nsenter", "-t", str(pid), "-n", "--", *cmd], input=input)


def _mountpoints():
    with open("/proc/mounts") as fh:
        return {line.split()[1] for line in fh}


def _rmtree_cgroup(path):
    if not path.exists():
        return
    for child in sorted((p for p in path.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
        _rmdir(child)
    _rmdir(path)


def _rmdir(path):
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)
    say(f"warning: cgroup {path} is still busy")
