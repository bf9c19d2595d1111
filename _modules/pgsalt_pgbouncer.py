"""PgBouncer's admin console on a balancer: pause, resume, and what the pools hold.

The console is reached over PgBouncer's Unix socket as the ``postgres`` OS user, which
PgBouncer's hba file lets in by peer authentication: no admin password exists.
"""

import csv
import io

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_pgbouncer"

SOCKET_DIR = "/var/run/postgresql"
PORT = 6432
# As the postgres OS user, by setpriv rather than Salt's runas: runas first starts a login
# shell to read the user's environment, 50 ms that clients of a paused pooler wait for.
AS_POSTGRES = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
# PgBouncer's answers when the wanted state holds already (a re-run, or a resume after
# a pause that never finished).
ALREADY = ("already suspended/paused", "pooler is not paused/suspended", "already paused",
           "is not paused")


def __virtual__():
    if not __salt__["cmd.has_exec"]("psql"):
        return False, "pgsalt_pgbouncer needs psql (postgresql-client)"
    return __virtualname__


def _console(command, timeout=10, port=PORT):
    out = __salt__["cmd.run_all"](
        AS_POSTGRES + ["psql", "-XAq", "--csv", "-h", SOCKET_DIR, "-p", str(port), "-U",
                       "postgres", "-d", "pgbouncer", "-c", command],
        env={"HOME": "/var/lib/postgresql"}, python_shell=False, timeout=timeout,
        ignore_retcode=True)
    if out["retcode"] != 0:
        message = (out["stderr"] or out["stdout"]).strip()
        if "Timed out" in message or out["retcode"] == 124:
            message = f"no answer in {timeout}s"
        raise CommandExecutionError(f"PgBouncer {command}: {message}")
    return list(csv.DictReader(io.StringIO(out["stdout"])))


def _admin(command, timeout, port):
    try:
        _console(command, timeout, port)
    except CommandExecutionError as exc:
        if not any(text in str(exc) for text in ALREADY):
            raise
        return False
    return True


def pause(database=None, timeout=10, port=PORT):
    """PAUSE the pooler (or one DATABASE): wait for the running transactions to end,
    close the server connections, and hold new queries until :func:`resume`.

    Returns ``{'paused': True, 'changed': bool}``. When the transactions do not end
    within TIMEOUT seconds, the pause is undone and an error raised.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_pgbouncer.pause timeout=5
    """
    try:
        changed = _admin(f"PAUSE {database}" if database else "PAUSE", timeout, port)
    except CommandExecutionError as exc:
        # PgBouncer keeps a pause that was asked for; clients must not stay held.
        try:
            _admin(f"RESUME {database}" if database else "RESUME", 10, port)
        except CommandExecutionError as undo:
            raise CommandExecutionError(f"{exc}; and then {undo}") from None
        raise
    return {"paused": True, "changed": changed}


def resume(database=None, timeout=10, port=PORT):
    """RESUME the pooler (or one DATABASE) after :func:`pause`.

    Returns ``{'paused': False, 'changed': bool}``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_pgbouncer.resume
    """
    changed = _admin(f"RESUME {database}" if database else "RESUME", timeout, port)
    return {"paused": False, "changed": changed}


def databases(port=PORT):
    """SHOW DATABASES: each database's host, port and whether it is paused.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_pgbouncer.databases
    """
    return {row["name"]: {"host": row["host"], "port": row["port"],
                          "paused": row["paused"] == "1"}
            for row in _console("SHOW DATABASES", port=port)}


def pools(port=PORT):
    """SHOW POOLS: clients active and waiting, server connections, per database and user.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_pgbouncer.pools
    """
    keys = ("cl_active", "cl_waiting", "sv_active", "sv_idle", "maxwait")
    return {f"{row['database']}/{row['user']}": {key: int(row[key]) for key in keys}
            for row in _console("SHOW POOLS", port=port)}
