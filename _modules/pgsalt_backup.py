"""Backups on demand (orch.backup), taken where the scheduled ones are taken."""

import os

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_backup"

PATRONI_CONFIG = "/etc/patroni/config.yml"


def __virtual__():
    return __virtualname__


def _is_replica():
    """Whether this host runs a PostgreSQL replica; False on a host without Patroni."""
    if not os.path.exists(PATRONI_CONFIG):
        return False
    out = __salt__["cmd.run_all"](["psql", "-XAtq", "-c", "select pg_is_in_recovery()"],
                                  runas="postgres", python_shell=False)
    if out["retcode"] != 0:
        raise CommandExecutionError(f"cannot tell this host's role: {out['stderr'].strip()}")
    return out["stdout"].strip() == "t"


def take(stanza, type="full"):
    """Take a backup of TYPE (full, diff, incr) of STANZA now and return what it made.

    On the repository host pgBackRest finds the primary itself; on a db host (a posix
    repository) only the primary takes it and the others say they skipped it.

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt_backup.take demo diff
    """
    if _is_replica():
        return {"skipped": "a replica: the primary takes the backup"}
    return __salt__["pgsalt_backrest.backup"](stanza, type=type, runas="postgres")
