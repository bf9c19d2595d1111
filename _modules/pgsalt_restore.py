"""The host-side steps of orch.restore: set data aside, clear Patroni's keys in etcd,
and report the point recovery reached.

Each step reads what it needs (data directory, etcd hosts, namespace, scope) from the
host's own Patroni config, so the orchestration passes no paths and no secrets.
"""

import logging
import os
import shutil

import salt.utils.yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "pgsalt_restore"

PATRONI_CONFIG = "/etc/patroni/config.yml"
ASIDE = ".pre-restore"


def __virtual__():
    return __virtualname__


def _patroni(config_file):
    try:
        with open(config_file, encoding="utf-8") as fh:
            return salt.utils.yaml.safe_load(fh) or {}
    except OSError as exc:
        raise CommandExecutionError(f"cannot read Patroni's config {config_file}: {exc}") from exc


def set_aside(config_file=PATRONI_CONFIG):
    """Move the data directory to DATA_DIR.pre-restore (replacing an older one) and leave
    an empty one, so that Patroni bootstraps or clones this member anew. Refused while
    Patroni runs.

    CLI Example:

    .. code-block:: bash

        salt pg2 pgsalt_restore.set_aside
    """
    if __salt__["service.status"]("patroni"):
        raise CommandExecutionError("Patroni is running: stop it before setting data aside")
    data_dir = _patroni(config_file)["postgresql"]["data_dir"]
    aside = data_dir + ASIDE
    moved = None
    if os.path.isdir(data_dir) and os.listdir(data_dir):
        if os.path.exists(aside):
            shutil.rmtree(aside)
        os.rename(data_dir, aside)
        moved = aside
    os.makedirs(data_dir, mode=0o700, exist_ok=True)
    __salt__["file.chown"](data_dir, "postgres", "postgres")
    os.chmod(data_dir, 0o700)
    return {"data_dir": data_dir, "set_aside": moved}


def drop_aside(config_file=PATRONI_CONFIG):
    """Remove DATA_DIR.pre-restore once this member runs again from new data.

    CLI Example:

    .. code-block:: bash

        salt pg2 pgsalt_restore.drop_aside
    """
    aside = _patroni(config_file)["postgresql"]["data_dir"] + ASIDE
    if not os.path.exists(aside):
        return {"removed": None}
    shutil.rmtree(aside)
    return {"removed": aside}


def clear_dcs(config_file=PATRONI_CONFIG):
    """Delete the cluster's keys in etcd (NAMESPACE/SCOPE/), so that the next Patroni to
    start bootstraps the cluster, here from a backup. Refused while Patroni runs here.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_restore.clear_dcs
    """
    if __salt__["service.status"]("patroni"):
        raise CommandExecutionError("Patroni is running: stop it on every member first")
    config = _patroni(config_file)
    prefix = f"/{config['namespace'].strip('/')}/{config['scope']}/"
    endpoints = [f"http://{host}" for host in config["etcd3"]["hosts"]]
    deleted = __salt__["pgsalt_etcd.delete_prefix"](prefix, endpoints=endpoints)
    return {"prefix": prefix, "deleted": deleted}


def _psql(sql, port):
    out = __salt__["cmd.run_all"](
        ["psql", "-XAtq", "-p", str(port), "-d", "postgres", "-c", sql],
        runas="postgres", python_shell=False,
    )
    if out["retcode"] != 0:
        raise CommandExecutionError(f"psql failed: {out['stderr'].strip()}")
    return out["stdout"].strip()


def recovery_point(cluster=None, config_file=PATRONI_CONFIG):
    """The point a restore reached, from the new timeline's history file: the timeline
    the cluster runs on, where it branched off and why ("before 2026-11-26 10:30:00+00",
    "at restore point x", "no recovery target specified"). Also sent as the event
    pgsalt/restore/CLUSTER/done.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_restore.recovery_point demo
    """
    config = _patroni(config_file)
    port = config["postgresql"]["listen"].rsplit(":", 1)[-1]
    timeline = int(_psql("select timeline_id from pg_control_checkpoint()", port))
    point = {"timeline": timeline, "lsn": _psql("select pg_current_wal_lsn()", port),
             "branched_at": None, "reason": None}
    if timeline > 1:
        history = _psql(f"select pg_read_file('pg_wal/{timeline:08X}.history')", port)
        last = [line for line in history.splitlines() if line.strip()][-1].split("\t")
        point["branched_at"], point["reason"] = last[1].strip(), last[2].strip()
    try:
        __salt__["event.send"](f"pgsalt/restore/{cluster or config['scope']}/done", point)
    except Exception as exc:  # the report stays in the job return
        log.warning("could not send the restore event: %s", exc)
    return point
