"""The bed's bridge and the package proxy the hosts reach the mirrors through."""

import os
import socket
import time

from . import config as C
from .sh import BedError, pid_from, run, terminate, write

ACNG_DIR = C.STATE / "acng"


def bridge_up():
    if not os.path.exists(f"/sys/class/net/{C.BRIDGE}"):
        run(["ip", "link", "add", C.BRIDGE, "type", "bridge"])
    addrs = run(["ip", "-o", "-4", "addr", "show", "dev", C.BRIDGE]).stdout
    if f"{C.GATEWAY}/" not in addrs:
        run(["ip", "addr", "add", f"{C.GATEWAY}/{C.PREFIXLEN}", "dev", C.BRIDGE])
    run(["ip", "link", "set", C.BRIDGE, "up"])


def bridge_down():
    if os.path.exists(f"/sys/class/net/{C.BRIDGE}"):
        run(["ip", "link", "del", C.BRIDGE])


def _acng_pid():
    return pid_from(ACNG_DIR / "run" / "pid")


def _answers(timeout=2.0):
    try:
        with socket.create_connection((C.GATEWAY, C.PROXY_PORT), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(b"GET /acng-report.html HTTP/1.0\r\n\r\n")
            return conn.recv(12).startswith(b"HTTP/")
    except OSError:
        return False


def proxy_up():
    """apt-cacher-ng bound to the bridge, with its own config, cache and pid file.

    It caches Debian packages and tunnels HTTPS to PyPI only. A proxy that stopped
    answering is restarted: it has been seen to stall an apt run for minutes.
    """
    if _acng_pid() and _answers():
        return
    proxy_down()
    conf = ACNG_DIR / "conf"
    for sub in ("conf", "log", "run"):
        (ACNG_DIR / sub).mkdir(parents=True, exist_ok=True)
    (C.CACHE / "acng").mkdir(parents=True, exist_ok=True)
    write(conf / "acng.conf",
          f"CacheDir: {C.CACHE / 'acng'}\nLogDir: {ACNG_DIR / 'log'}\n"
          "SupportDir: /usr/lib/apt-cacher-ng\n"
          f"PidFile: {ACNG_DIR / 'run' / 'pid'}\nSocketPath: {ACNG_DIR / 'run' / 'socket'}\n"
          f"Port: {C.PROXY_PORT}\nBindAddress: {C.GATEWAY}\nForeGround: 0\n"
          "PassThroughPattern: ^(pypi\\.org|files\\.pythonhosted\\.org):443$\n"
          "ExThreshold: 4\nNetworkTimeout: 30\n")
    run(["apt-cacher-ng", "-c", str(conf)])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers():
            return
        time.sleep(0.2)
    raise BedError(f"apt-cacher-ng does not answer on {C.GATEWAY}:{C.PROXY_PORT}; "
                   f"see {ACNG_DIR / 'log'}")


def proxy_down():
    pid = _acng_pid()
    if pid:
        terminate([pid], 5)
