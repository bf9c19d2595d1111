"""Running commands on the machine, with errors that say what failed."""

import os
import pathlib
import signal
import subprocess
import sys
import time


class BedError(Exception):
    """A failure the CLI reports as one line (plus any detail) and exit code 1."""


def run(cmd, check=True, capture=True, timeout=None, input=None, env=None):
    """Run CMD (a list); raise BedError with its output when it fails and check is set."""
    try:
        proc = subprocess.run(
            cmd, capture_output=capture, text=True, timeout=timeout, input=input, env=env
        )
    except subprocess.TimeoutExpired as exc:
        raise BedError(f"timed out after {timeout}s: {' '.join(cmd)}") from exc
    if check and proc.returncode != 0:
        detail = (proc.stderr or "") + (proc.stdout or "") if capture else ""
        raise BedError(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{detail.strip()}")
    return proc


def say(msg):
    print(msg, file=sys.stderr, flush=True)


def write(path, text, mode=0o644):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def alive(pid):
    """Is PID a process that still runs? A zombie has exited: it only waits to be reaped."""
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def pid_from(path):
    """The PID in pid file PATH while that process runs; else None."""
    try:
        pid = int(pathlib.Path(path).read_text())
    except (OSError, ValueError):
        return None
    return pid if alive(pid) else None


def wait_gone(pids, timeout):
    """Wait until none of PIDS runs; True when they all went within TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while any(alive(p) for p in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(pids, timeout):
    """SIGTERM, then SIGKILL what is still there after TIMEOUT; return once all are gone."""
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        for pid in pids:
            try:
                os.kill(pid, sig)
            except OSError:
                pass
        if wait_gone(pids, wait):
            return
    raise BedError(f"processes {sorted(pids)} survived SIGKILL")


def pids_of(pattern):
    """PIDs of running processes whose command line contains PATTERN."""
    found = run(["pgrep", "-f", pattern], check=False).stdout.split()
    return [int(p) for p in found if int(p) != os.getpid() and alive(int(p))]
