"""Cached, bare Debian images: debootstrap base, salt wheels, and the image hosts boot from.

An image is Debian plus a salt-minion (a venv at /opt/salt and a systemd unit), nothing else.
"""

import hashlib
import pathlib
import shutil
import tempfile
import time

from . import config as C
from .sh import BedError, run, say, write

# The image changes when this recipe or the bed's settings (addresses, ports) change.
HERE = pathlib.Path(__file__).parent
RECIPE = (HERE / "image.py").read_bytes() + (HERE / "config.py").read_bytes()


def _stamp():
    return hashlib.sha256(RECIPE).hexdigest()[:16]


def base_dir(os_name):
    return C.CACHE / "base" / os_name


def image_dir(os_name):
    return C.CACHE / "images" / os_name


def _nspawn(root, *cmd, binds=(), env=()):
    """Run a command in ROOT without booting it; it shares the machine's network."""
    args = ["systemd-nspawn", "-q", "--register=no", "--keep-unit", "-D", str(root)]
    args += [f"--bind={b}" for b in binds]
    args += [f"--bind-ro={C.HOST_CA}:{C.GUEST_CA}", f"--setenv=PIP_CERT={C.GUEST_CA}"]
    args += [f"--setenv={e}" for e in env]
    return run(args + list(cmd), timeout=1200)


def ensure_base(os_name):
    target = base_dir(os_name)
    if (target / "etc/os-release").exists():
        return target
    suite = C.RELEASES[os_name]["suite"]
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    say(f"debootstrap {suite} (once; cached in {target})")
    run(["debootstrap", "--variant=minbase", f"--include={C.BASE_PACKAGES}", suite, str(tmp),
         C.MIRROR], timeout=1200)
    tmp.rename(target)
    return target


def ensure_wheels(os_name):
    """Salt's wheels for the release's Python, built once in a throw-away copy of the base.

    timelib has no wheel, so building needs gcc; the image itself stays without a compiler.
    """
    wheels = C.CACHE / "wheels" / os_name
    done = wheels / f".salt-{C.SALT_VERSION}"
    if done.exists():
        return wheels
    base = ensure_base(os_name)
    wheels.mkdir(parents=True, exist_ok=True)
    say(f"building salt {C.SALT_VERSION} wheels for {os_name} (once)")
    with tempfile.TemporaryDirectory(dir=C.CACHE) as scratch:
        scratch = pathlib.Path(scratch)
        root = _overlay(base, scratch)
        try:
            _nspawn(root, "/bin/sh", "-ec",
                    "apt-get -qq update && DEBIAN_FRONTEND=noninteractive apt-get -qq install -y "
                    "gcc python3-dev libc6-dev >/dev/null && python3 -m venv /tmp/v && "
                    f"/tmp/v/bin/pip -q wheel -w /wheels salt=={C.SALT_VERSION}",
                    binds=[f"{wheels}:/wheels"])
        finally:
            run(["umount", str(root)], check=False)
    done.touch()
    return wheels


def _overlay(lower, scratch):
    for sub in ("upper", "work", "root"):
        (scratch / sub).mkdir()
    root = scratch / "root"
    run(["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={scratch / 'upper'},workdir={scratch / 'work'}", str(root)])
    return root


def ensure_image(os_name, in_use=False):
    """Return the image for OS_NAME, building it when missing or when this recipe changed."""
    target = image_dir(os_name)
    stamp = target / ".bed-image"
    if stamp.exists() and stamp.read_text() == _stamp():
        return target
    if in_use:
        raise BedError(f"the {os_name} image is out of date but hosts use it: run 'tb down' first")
    started = time.monotonic()
    wheels = ensure_wheels(os_name)
    tmp = target.with_suffix(".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.parent.mkdir(parents=True, exist_ok=True)
    run(["cp", "-a", str(base_dir(os_name)), str(tmp)])
    _nspawn(tmp, "/bin/sh", "-ec",
            "python3 -m venv /opt/salt && /opt/salt/bin/pip -q install --no-index "
            f"--find-links /wheels salt=={C.SALT_VERSION}",
            binds=[f"{wheels}:/wheels"])
    _configure(tmp, os_name)
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    (target / ".bed-image").write_text(_stamp())
    say(f"image {os_name} built in {time.monotonic() - started:.0f}s")
    return target


def _configure(root, os_name):
    rel = C.RELEASES[os_name]
    write(root / "etc/apt/sources.list",
          f"deb {C.MIRROR} {rel['suite']} main\n"
          f"deb {C.MIRROR} {rel['suite']}-updates main\n"
          f"deb http://deb.debian.org/debian-security {rel['security']} main\n")
    # The bed's proxy stalls now and then; apt must time out and retry rather than hang.
    write(root / "etc/apt/apt.conf.d/80bed",
          f'Acquire::http::Proxy "http://{C.GATEWAY}:{C.PROXY_PORT}";\n'
          'Acquire::http::Timeout "30";\nAcquire::Retries "5";\n')
    write(root / "etc/pip.conf",
          f"[global]\nproxy = http://{C.GATEWAY}:{C.PROXY_PORT}\ncert = {C.GUEST_CA}\n"
          "timeout = 60\nretries = 5\ndisable-pip-version-check = true\n")
    write(root / "etc/salt/minion.d/bed.conf",
          f"master: {C.GATEWAY}\nacceptance_wait_time: 1\nrandom_reauth_delay: 0\n"
          "recon_default: 500\nrecon_max: 3000\nrecon_randomize: false\nauth_safemode: false\n"
          "log_level_logfile: info\n")
    write(root / "etc/systemd/system/salt-minion.service",
          "[Unit]\nDescription=Salt minion\nWants=network-online.target\n"
          "After=network-online.target\n\n[Service]\nExecStart=/opt/salt/bin/salt-minion\n"
          "KillMode=process\nTimeoutStopSec=3\nRestart=on-failure\nRestartSec=2\n\n"
          "[Install]\nWantedBy=multi-user.target\n")
    for tool in ("salt-call", "salt-minion", "salt-pip"):
        link = root / "usr/local/bin" / tool
        link.unlink(missing_ok=True)
        link.symlink_to(f"/opt/salt/bin/{tool}")
    # Hosts have no DNS; lookups must fail at once instead of waiting.
    resolv = root / "etc/resolv.conf"
    resolv.unlink(missing_ok=True)
    write(resolv, "options timeout:1 attempts:1\n")
    (root / "etc/machine-id").write_text("")
    run(["systemctl", f"--root={root}", "enable", "salt-minion.service",
         "systemd-networkd.service"])
