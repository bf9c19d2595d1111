"""Running commands on the machine, with errors that say what failed."""

import subprocess
import sys


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
