"""HAProxy's runtime API on a balancer (its admin socket): which servers it routes to, and
telling it at once about a leader change that Patroni has confirmed."""

import csv
import io
import socket
import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_haproxy"

SOCKET = "/run/haproxy/admin.sock"
PRIMARY = "postgres_primary"


def __virtual__():
    return __virtualname__


def _command(command, sock=SOCKET, timeout=5):
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(timeout)
            conn.connect(sock)
            conn.sendall(command.encode() + b"\n")
            chunks = []
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    except OSError as exc:
        raise CommandExecutionError(f"HAProxy runtime API ({sock}): {exc}") from None
    return b"".join(chunks).decode()


def servers(backend=PRIMARY, sock=SOCKET):
    """Each server of BACKEND and its state as HAProxy sees it (UP, DOWN, MAINT, ...).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_haproxy.servers
        salt pg1 pgsalt_haproxy.servers postgres_replicas
    """
    text = _command("show stat", sock).lstrip("# ")
    return {row["svname"]: row["status"].split(" ")[0]
            for row in csv.DictReader(io.StringIO(text))
            if row["pxname"] == backend and row["svname"] not in ("FRONTEND", "BACKEND")}


def route_primary(leader, timeout=30, resume_pooler=False, sock=SOCKET):
    """Make HAProxy route the rw port to LEADER alone, now; with RESUME_POOLER, RESUME the
    local PgBouncer afterwards (whether routing worked or not).

    Call it once Patroni confirms LEADER as the primary (GET /primary answers 200): the
    health checks would agree after a few intervals, and this saves that wait. The
    checks go on and would correct a wrong call. Waits until HAProxy reports LEADER as
    the one UP server; returns ``{'leader', 'servers', 'seconds'}``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_haproxy.route_primary pg2
    """
    try:
        return _route_primary(leader, timeout, sock)
    finally:
        if resume_pooler:
            __salt__["pgsalt_pgbouncer.resume"]()


def _route_primary(leader, timeout, sock):
    started = time.monotonic()
    current = servers(PRIMARY, sock)
    if leader not in current:
        raise CommandExecutionError(f"HAProxy backend {PRIMARY} has no server {leader} "
                                    f"(it has {', '.join(sorted(current)) or 'none'})")
    for name in current:
        answer = _command(
            f"set server {PRIMARY}/{name} health {'up' if name == leader else 'down'}", sock)
        if answer.strip():  # HAProxy says nothing when it complies
            raise CommandExecutionError(f"HAProxy refused to set {name}'s health: {answer}")
    while True:
        current = servers(PRIMARY, sock)
        if [name for name, state in current.items() if state == "UP"] == [leader]:
            return {"leader": leader, "servers": current,
                    "seconds": round(time.monotonic() - started, 3)}
        if time.monotonic() - started > float(timeout):
            raise CommandExecutionError(
                f"HAProxy does not route to {leader} alone after {timeout}s: {current}")
        time.sleep(0.2)
