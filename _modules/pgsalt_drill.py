"""
Restore drills for pgsalt: prove that the latest pgBackRest backup restores.

On the repository host (PostgreSQL server binaries installed, no cluster of its own),
``run`` restores the stanza's latest backup plus the archived WAL into a scratch
directory, starts a throw-away PostgreSQL on it, checks it, reports and cleans up:
whatever happens, the scratch instance is stopped and its directory removed.

The scratch directory ``path`` is laid out as::

    PATH/.pgsalt-drill   marker: the drill made this directory (nothing else is deleted)
    PATH/data            the restored data directory (pgBackRest's --pg1-path)
    PATH/tablespace      every tablespace of the backup (--tablespace-map-all)
    PATH/pg_hba.conf     local peer authentication only
    PATH/pg_ident.conf   empty
    PATH/drill.log       the scratch server's log
    PATH/.s.PGSQL.PORT   its only socket: it listens on no TCP address

The data directory is a subdirectory because pgBackRest refuses to restore into a
directory that holds any file, the marker included.

The only secret involved, the repository cipher passphrase, stays in the pgBackRest
configuration file: it is on no command line and in no report.
"""

import contextlib
import datetime
import logging
import os
import re
import shlex
import shutil
import time

import salt.utils.path
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "pgsalt_drill"

MARKER = ".pgsalt-drill"
DEFAULT_CONFIG = "/etc/pgbackrest/drill.conf"
USER = "postgres"
# Lines of the server log a failed drill's report carries.
LOG_TAIL = 20
# A query on the scratch server is a catalog lookup: one that takes longer is hung.
QUERY_TIMEOUT = 60
# pg_ctl stop -m immediate returns in a second or two; this bounds a hung one.
STOP_TIMEOUT = 60
# Restored data plus the WAL replayed on top of it: refuse to start with less free space,
# so that a drill cannot fill the repository host's disk (and so stop WAL archiving).
SPACE_FACTOR = 1.2
# These values end up in restore_command, which PostgreSQL runs through a shell, and in a
# socket path limited to 107 bytes: plain characters only, rather than quoting rules.
_PATH = re.compile(r"^/[A-Za-z0-9._/-]+$")
_STANZA = re.compile(r"^[A-Za-z0-9._-]+$")
_MAX_PATH = 90
_PGBACKREST_FAILED = re.compile(r"^pgbackrest \S+ failed: ")
_LOG_REASON = re.compile(r"\b(?:FATAL|PANIC):")


def __virtual__():
    if salt.utils.path.which("pgbackrest"):
        return __virtualname__
    return (False, "pgbackrest is not on PATH; install the pgbackrest package")


class _StepFailed(Exception):
    """The drill failed; the message is the report's one-line ``error``, step first."""


class _Scratch:
    """Where the drill's instance lives, and what has been done to it so far."""

    def __init__(self, path, bin_dir, port):
        self.path = path
        self.bin_dir = bin_dir
        self.port = port
        self.data = os.path.join(path, "data")
        self.log = os.path.join(path, "drill.log")
        self.marker = os.path.join(path, MARKER)
        self.claimed = False  # the marker is ours: cleanup may empty the directory
        self.created = False  # the drill made the directory itself: cleanup removes it too
        self.started = False  # pg_ctl start was run: cleanup stops the server
        self.step = "setup"


def _one_line(text):
    """
    TEXT on one line, with pgBackRest's ``pgbackrest CMD failed:`` said as the step does.

    CLI Example (internal):

    .. code-block:: python

        _one_line("pgbackrest restore failed: ERROR: [039]: ...\\nHINT: ...")
    """
    text = _PGBACKREST_FAILED.sub("pgBackRest failed: ", str(text).strip())
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


@contextlib.contextmanager
def _step(scratch, name):
    """
    Run a block as step NAME: its errors become a ``_StepFailed`` that names the step.

    CLI Example (internal):

    .. code-block:: python

        with _step(scratch, "restore"):
            ...
    """
    scratch.step = name
    try:
        yield
    except (CommandExecutionError, OSError) as exc:
        raise _StepFailed(f"{name}: {_one_line(exc)}") from exc


def _run_pg(scratch, tool, args, timeout):
    """
    Run BIN_DIR/TOOL ARGS as postgres, without a shell; the ``cmd.run_all`` result.

    CLI Example (internal):

    .. code-block:: python

        _run_pg(scratch, "pg_ctl", ["-D", scratch.data, "status"], 10)
    """
    return __salt__["cmd.run_all"](
        [os.path.join(scratch.bin_dir, tool), *args],
        runas=USER,
        python_shell=False,
        ignore_retcode=True,
        timeout=timeout,
    )


def _psql(scratch, sql, dbname="postgres"):
    """
    One query's unaligned output on the scratch server; raises CommandExecutionError.

    The database goes in as a conninfo string, so that a name with ``=`` in it is not
    taken for one.

    CLI Example (internal):

    .. code-block:: python

        _psql(scratch, "select pg_is_in_recovery()")  # 't' or 'f'
    """
    quoted = dbname.replace("\\", "\\\\").replace("'", "\\'")
    args = ["-XAtq", "-h", scratch.path, "-p", str(scratch.port), "-U", USER]
    args += ["-d", f"dbname='{quoted}'", "-c", sql]
    result = _run_pg(scratch, "psql", args, QUERY_TIMEOUT)
    if result["retcode"] != 0:
        detail = _one_line(result.get("stderr") or result.get("stdout") or "")
        raise CommandExecutionError(detail or f"psql exit code {result['retcode']}")
    return (result.get("stdout") or "").strip()


def _log_reason(scratch):
    """
    The server log's last FATAL or PANIC line, or None.

    CLI Example (internal):

    .. code-block:: python

        _log_reason(scratch)  # 'FATAL:  could not ...'
    """
    found = [line for line in _tail(scratch, 200) if _LOG_REASON.search(line)]
    return found[-1][_LOG_REASON.search(found[-1]).start() :] if found else None


def _tail(scratch, lines=LOG_TAIL):
    """
    The last LINES lines of the server log ([] when there is none).

    CLI Example (internal):

    .. code-block:: python

        _tail(scratch)
    """
    try:
        with open(scratch.log, encoding="utf-8", errors="replace") as handle:
            return [line.rstrip("\n") for line in handle.readlines()[-lines:]]
    except OSError:
        return []


def _own(target):
    """
    Give TARGET to postgres, which runs the restore and the server.

    CLI Example (internal):

    .. code-block:: python

        _own("/var/lib/pgbackrest-drill")
    """
    # file.chown returns an error text instead of raising.
    problem = __salt__["file.chown"](target, USER, USER)
    if problem:
        raise CommandExecutionError(f"cannot give {target} to {USER}: {_one_line(problem)}")


def _empty(path):
    """
    Remove everything inside PATH, without following symlinks out of it.

    CLI Example (internal):

    .. code-block:: python

        _empty("/var/lib/pgbackrest-drill")
    """
    for entry in os.scandir(path):
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path)
        else:
            os.unlink(entry.path)


def _validate(stanza, bin_dir, path, port, config, timeout):
    """
    Refuse arguments the drill cannot use safely, before it touches anything.

    CLI Example (internal):

    .. code-block:: python

        _validate("main", "/usr/lib/postgresql/17/bin", "/var/lib/pgbackrest-drill", 5499,
                  "/etc/pgbackrest/drill.conf", 600)
    """
    if not isinstance(stanza, str) or not _STANZA.match(stanza):
        raise _StepFailed(f"setup: stanza {stanza!r} is not a plain name")
    for name, value in (("path", path), ("config", config), ("bin_dir", bin_dir)):
        if not isinstance(value, str) or not _PATH.match(value) or "/.." in value:
            raise _StepFailed(f"setup: {name} {value!r} is not a plain absolute path")
    if os.path.normpath(path) != path or os.path.dirname(path) == path:
        raise _StepFailed(f"setup: path {path!r} is not a normalized directory below /")
    if len(path) > _MAX_PATH:
        raise _StepFailed(f"setup: path {path} is too long to hold the server's socket")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise _StepFailed(f"setup: port {port!r} is not a number from 1 to 65535")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise _StepFailed(f"setup: timeout {timeout!r} is not a positive number of seconds")
    for tool in ("pg_ctl", "psql"):
        if not os.access(os.path.join(bin_dir, tool), os.X_OK):
            raise _StepFailed(f"setup: no {tool} in {bin_dir}: install the PostgreSQL server")


def _stop(scratch):
    """
    Stop the scratch server (immediately: its data is thrown away) if it runs.

    CLI Example (internal):

    .. code-block:: python

        _stop(scratch)
    """
    if not os.path.exists(os.path.join(scratch.data, "postmaster.pid")):
        return
    args = ["-D", scratch.data, "-m", "immediate", "-w", "-t", str(STOP_TIMEOUT), "stop"]
    result = _run_pg(scratch, "pg_ctl", args, STOP_TIMEOUT + 30)
    if result["retcode"] == 0:
        return
    # After a host crash postmaster.pid outlives its server: stop fails, and status says
    # 3, no server running. There is nothing to stop then.
    if _run_pg(scratch, "pg_ctl", ["-D", scratch.data, "status"], 30)["retcode"] == 3:
        return
    detail = _one_line(result.get("stderr") or result.get("stdout") or "")
    raise CommandExecutionError(f"pg_ctl stop failed: {detail}")


def _claim(scratch):
    """
    Make PATH the drill's own, empty scratch directory, owned by postgres with mode 0700.

    A directory that holds the marker is an earlier drill's leftover (its server is
    stopped first); an empty one is adopted and kept afterwards (it may be a mount
    point). Anything else is refused: the drill never deletes what it did not create.

    CLI Example (internal):

    .. code-block:: python

        _claim(scratch)
    """
    path = scratch.path
    if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
        raise _StepFailed(f"setup: {path} exists and is not a directory; refusing to use it")
    if not os.path.exists(path):
        os.mkdir(path, 0o700)
        scratch.created = True
    elif os.path.isfile(scratch.marker):
        with open(scratch.marker, encoding="utf-8") as handle:
            scratch.created = handle.read().strip() == "created"
        log.warning("pgsalt_drill: removing the leftover of an earlier drill in %s", path)
        _stop(scratch)
        _empty(path)
    elif os.listdir(path):
        raise _StepFailed(
            f"setup: {path} exists, is not empty and was not made by a restore drill"
            f" (no {MARKER} in it); remove it or choose another path"
        )
    scratch.claimed = True
    with open(scratch.marker, "w", encoding="utf-8") as handle:
        handle.write("created\n" if scratch.created else "adopted\n")
    os.chmod(path, 0o700)
    _own(path)
    os.mkdir(scratch.data, 0o700)
    _own(scratch.data)


def _newest_backup(stanza, config):
    """
    The stanza's current system id and its newest backup's info entry.

    CLI Example (internal):

    .. code-block:: python

        _newest_backup("main", "/etc/pgbackrest/drill.conf")
    """
    entry = __salt__["pgsalt_backrest.info"](stanza, config=config, runas=USER)
    if not entry:
        raise _StepFailed(f"info: stanza {stanza} is not in the repository")
    backups = entry.get("backup") or []
    if not backups:
        message = (entry.get("status") or {}).get("message") or "no backup"
        raise _StepFailed(f"info: stanza {stanza} has no backup to restore ({message})")
    # The current database is the db entry with the highest id (after a stanza-upgrade).
    current = max(entry.get("db") or [{}], key=lambda db: db.get("id", 0))
    newest = max(backups, key=lambda backup: backup["timestamp"]["stop"])
    return current.get("system-id"), newest


def _bin_dir(stanza, config):
    """Debian's binaries of the PostgreSQL version the stanza's current database runs."""
    entry = __salt__["pgsalt_backrest.info"](stanza, config=config, runas=USER)
    current = max((entry or {}).get("db") or [{}], key=lambda db: db.get("id", 0))
    if "version" not in current:
        raise _StepFailed(f"info: stanza {stanza} has no database version in the repository")
    return f"/usr/lib/postgresql/{current['version']}/bin"


def _restore(scratch, stanza, config):
    """
    Restore the latest backup and the archive's end into PATH/data.

    CLI Example (internal):

    .. code-block:: python

        _restore(scratch, "main", "/etc/pgbackrest/drill.conf")
    """
    pgbackrest = salt.utils.path.which("pgbackrest") or "pgbackrest"
    # The repository host's own config may make archive-get give up after a second (so
    # that a dead repository does not stall a promotion); a drill must rather wait.
    restore_command = (
        f"{pgbackrest} --config={config} --stanza={stanza} --archive-timeout=60"
        ' --io-timeout=60 archive-get %f "%p"'
    )
    extra = [
        f"--recovery-option=restore_command={restore_command}",
        # Tablespaces would otherwise go back to their paths on the db hosts.
        f"--tablespace-map-all={os.path.join(scratch.path, 'tablespace')}",
    ]
    __salt__["pgsalt_backrest.restore"](
        stanza, pg_path=scratch.data, archive_mode="off", extra=extra, config=config, runas=USER
    )


def _write_auth_files(scratch):
    """
    pg_hba.conf (peer over the socket only) and an empty pg_ident.conf in PATH.

    CLI Example (internal):

    .. code-block:: python

        _write_auth_files(scratch)
    """
    for name, text in (("pg_hba.conf", "local all all peer\n"), ("pg_ident.conf", "")):
        target = os.path.join(scratch.path, name)
        with open(target, "w", encoding="utf-8") as handle:
            handle.write(text)
        _own(target)


def _server_options(scratch):
    """
    The postgres options (pg_ctl's single ``-o`` argument, which a shell splits).

    They override what the restored, Patroni-written configuration says for a db host.

    CLI Example (internal):

    .. code-block:: python

        _server_options(scratch)  # "-c port=5499 -c listen_addresses='' ..."
    """
    settings = [
        ("port", scratch.port),
        # No TCP: the socket in PATH (mode 0700) is the only way in, so the port only
        # names that socket and cannot clash with another server.
        ("listen_addresses", ""),
        ("unix_socket_directories", scratch.path),
        ("hba_file", os.path.join(scratch.path, "pg_hba.conf")),
        ("ident_file", os.path.join(scratch.path, "pg_ident.conf")),
        ("archive_mode", "off"),
        ("cluster_name", "drill"),
        ("hot_standby", "on"),
        # The db hosts' certificates and log directory are not on this host.
        ("ssl", "off"),
        ("logging_collector", "off"),
        ("log_destination", "stderr"),
        # The repository host is sized for storage; shared_buffers is not among the
        # settings recovery needs at the primary's value (max_connections etc. are).
        ("shared_buffers", "128MB"),
        ("huge_pages", "off"),
        # No standby will ever confirm a commit of the scratch instance.
        ("synchronous_standby_names", ""),
    ]
    return " ".join(
        f"-c {name}=''" if value == "" else f"-c {shlex.quote(f'{name}={value}')}"
        for name, value in settings
    )


def _start(scratch, deadline):
    """
    Start the scratch server with pg_ctl, waiting until it accepts connections.

    CLI Example (internal):

    .. code-block:: python

        _start(scratch, time.monotonic() + 600)
    """
    wait = max(1, int(deadline - time.monotonic()))
    args = ["-D", scratch.data, "-w", "-t", str(wait), "-l", scratch.log]
    args += ["-o", _server_options(scratch), "start"]
    scratch.started = True  # from here on a server may run, even if pg_ctl gives up
    result = _run_pg(scratch, "pg_ctl", args, wait + 30)
    if result["retcode"] != 0:
        detail = _log_reason(scratch) or _one_line(result.get("stderr") or result["stdout"])
        raise _StepFailed(f"start: pg_ctl could not start the server: {detail}")


def _wait_for_promotion(scratch, report, deadline, timeout):
    """
    Poll every second until recovery ends (the end of the archive was replayed and the
    server promoted); records the ``server answers`` and ``recovery finished`` checks.

    CLI Example (internal):

    .. code-block:: python

        _wait_for_promotion(scratch, report, time.monotonic() + 600, 600)
    """
    answered, last_error = False, None
    while True:
        try:
            in_recovery = _psql(scratch, "select pg_is_in_recovery()")
            if not answered:
                answered = True
                _check(report, "server answers", True, f"socket in {scratch.path}")
            if in_recovery == "f":
                return
        except CommandExecutionError as exc:
            last_error = str(exc)
            # A server that stopped (a replay error is a PANIC) will not answer again.
            if not os.path.exists(os.path.join(scratch.data, "postmaster.pid")):
                reason = _log_reason(scratch) or last_error
                _check(report, "recovery finished", False, f"the server stopped: {reason}")
                raise _StepFailed(f"recovery: the server stopped: {reason}") from exc
        if time.monotonic() >= deadline:
            if not answered:
                _check(report, "server answers", False, last_error)
                raise _StepFailed(f"recovery: the server never answered: {last_error}")
            detail = f"still in recovery after {timeout} s"
            _check(report, "recovery finished", False, detail)
            raise _StepFailed(f"recovery: {detail} (timeout)")
        time.sleep(1)


def _lsn(text):
    """
    An LSN (``16/B374D848``) as a number, for comparing.

    CLI Example (internal):

    .. code-block:: python

        _lsn("0/19000100")  # 419430656
    """
    high, low = text.split("/")
    return (int(high, 16) << 32) + int(low, 16)


def _check(report, name, ok, detail):
    report["checks"].append({"name": name, "ok": bool(ok), "detail": detail})


def _check_restored(scratch, report, system_id, backup):
    """
    The checks on the promoted server: system identifier, every database, the point
    reached against the newest backup. Fills ``reached``, ``databases`` and ``checks``.

    CLI Example (internal):

    .. code-block:: python

        _check_restored(scratch, report, 7390000000000000002, newest)
    """
    row = _psql(
        scratch,
        "select pg_current_wal_lsn(), (select timeline_id from pg_control_checkpoint()),"
        " (select system_identifier from pg_control_system())",
    )
    lsn, timeline, restored_id = row.split("|")
    report["reached"] = {"lsn": lsn, "timeline": int(timeline)}
    same = str(restored_id) == str(system_id)
    _check(
        report,
        "system identifier",
        same,
        f"{restored_id}, as the stanza's"
        if same
        else f"restored {restored_id}, the stanza's current database is {system_id}",
    )

    listed = _psql(
        scratch,
        "select pg_database_size(oid), datname from pg_database"
        " where not datistemplate and datallowconn order by datname",
    )
    for line in listed.splitlines():
        size, name = line.split("|", 1)
        report["databases"].append({"name": name, "size_bytes": int(size)})
        try:
            relations = _psql(scratch, "select count(*) from pg_class", dbname=name)
            _check(report, f"database {name}", True, f"{relations} relations in pg_class")
        except CommandExecutionError as exc:
            _check(report, f"database {name}", False, _one_line(exc))

    stop_lsn = (backup.get("lsn") or {}).get("stop")
    passed = stop_lsn is None or _lsn(lsn) >= _lsn(stop_lsn)
    _check(
        report,
        "newest backup",
        passed,
        f"{backup['label']} ({backup.get('type')}, stopped {report['backup']['stop']}"
        + (f" at {stop_lsn}); reached {lsn}" if stop_lsn else ")")
        + ("" if passed else ": recovery ended before the backup's end"),
    )


def _drill(scratch, report, stanza, config, timeout):
    """
    The drill's steps up to the checks; raises ``_StepFailed`` at the first failed one.

    CLI Example (internal):

    .. code-block:: python

        _drill(scratch, report, "main", "/etc/pgbackrest/drill.conf", 600)
    """
    with _step(scratch, "setup"):
        _claim(scratch)
    with _step(scratch, "info"):
        system_id, backup = _newest_backup(stanza, config)
    stop = datetime.datetime.fromtimestamp(backup["timestamp"]["stop"], datetime.UTC)
    report["backup"] = {
        "label": backup.get("label"),
        "type": backup.get("type"),
        "stop": stop.isoformat(),
    }
    with _step(scratch, "setup"):
        needed = int(((backup.get("info") or {}).get("size") or 0) * SPACE_FACTOR)
        free = shutil.disk_usage(scratch.path).free
        if free < needed:
            raise _StepFailed(
                f"setup: {free} bytes free under {scratch.path}, the restore needs about"
                f" {needed}; refusing to fill the repository host's disk"
            )

    with _step(scratch, "restore"):
        started = time.monotonic()
        _restore(scratch, stanza, config)
        report["restore_seconds"] = round(time.monotonic() - started, 1)

    with _step(scratch, "start"):
        _write_auth_files(scratch)
        started = time.monotonic()
        # One budget for starting and recovering: the server replays WAL in both.
        deadline = started + timeout
        _start(scratch, deadline)
    with _step(scratch, "recovery"):
        _wait_for_promotion(scratch, report, deadline, timeout)
        report["recovery_seconds"] = round(time.monotonic() - started, 1)
    _check(report, "recovery finished", True, "end of the archive replayed, promoted")

    with _step(scratch, "check"):
        _check_restored(scratch, report, system_id, backup)
    failed = next((c for c in report["checks"] if not c["ok"]), None)
    if failed:
        raise _StepFailed(f"check {failed['name']}: {failed['detail']}")


def _clean_up(scratch, report):
    """
    Stop the scratch server and remove what the drill made; records a ``cleanup`` check.

    CLI Example (internal):

    .. code-block:: python

        _clean_up(scratch, report)
    """
    if not scratch.claimed:
        return
    if report["error"]:
        # The log goes with the directory: keep its end for the report first.
        report["log_tail"] = _tail(scratch)
    problems = []
    if scratch.started:
        try:
            _stop(scratch)
        except (CommandExecutionError, OSError) as exc:
            problems.append(_one_line(exc))
    try:
        # Only ever a directory that carries the marker the drill wrote.
        if os.path.isfile(scratch.marker):
            _empty(scratch.path)
            if scratch.created:
                os.rmdir(scratch.path)
    except OSError as exc:
        problems.append(f"cannot remove {scratch.path}: {exc}")
    detail = "; ".join(problems) or (
        f"{'server stopped, ' if scratch.started else ''}"
        f"{scratch.path} {'removed' if scratch.created else 'emptied'}"
    )
    _check(report, "cleanup", not problems, detail)
    if problems and not report["error"]:
        report["error"] = f"cleanup: {detail}"
        report["log_tail"] = _tail(scratch)


def _send(report, name):
    """
    Fire the report as the event ``pgsalt/backup/drill/NAME``; a failure is only logged.

    CLI Example (internal):

    .. code-block:: python

        _send(report, "main")
    """
    tag = f"pgsalt/backup/drill/{name}"
    try:
        if __salt__["event.send"](tag, report) is False:
            log.warning("pgsalt_drill: the event %s was not sent", tag)
    except Exception as exc:  # the report is the job's return in any case
        log.warning("pgsalt_drill: the event %s was not sent: %s", tag, exc)


def run(stanza, bin_dir, path, port, config=DEFAULT_CONFIG, cluster=None, timeout=600):
    """
    Restore drill: restore STANZA's latest backup and the archived WAL into PATH, start a
    scratch PostgreSQL (BIN_DIR's) on it with its socket in PATH and port PORT, wait for
    the end of recovery, check it, then stop it and remove PATH, whatever happened.

    stanza
        The pgBackRest stanza (the cluster's Patroni scope).
    bin_dir
        The directory of pg_ctl and psql of the backup's PostgreSQL version; None takes
        Debian's for the version the stanza's current database runs.
    path
        The scratch directory: missing (made and removed), empty (kept, emptied after)
        or an earlier drill's (it holds the ``.pgsalt-drill`` marker); anything else is
        refused. Its filesystem needs about 1.2 times the backup's size free.
    port
        Names the scratch server's socket; it listens on no TCP address.
    config
        The pgBackRest configuration to restore with (it holds the cipher passphrase).
    cluster
        The pgsalt cluster, for the report and the event tag (the stanza when None).
    timeout
        Seconds the server may take to start and finish recovery.

    Returns the report, also sent as the event ``pgsalt/backup/drill/CLUSTER``:
    ``result``, ``stanza``, ``cluster``, ``backup`` (label, type, stop), ``restore_seconds``,
    ``recovery_seconds``, ``reached`` (lsn, timeline), ``databases`` (name, size_bytes),
    ``checks`` (name, ok, detail), ``error`` (the first failure, naming its step) and
    ``log_tail`` (the server log's end, when the drill failed). A failed drill sets the
    job's exit code to 1.

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt_drill.run main /usr/lib/postgresql/17/bin \\
            /var/lib/pgbackrest-drill 5499 cluster=demo
    """
    report = {
        "result": False,
        "stanza": stanza,
        "cluster": cluster,
        "backup": None,
        "restore_seconds": None,
        "recovery_seconds": None,
        "reached": None,
        "databases": [],
        "checks": [],
        "error": None,
        "log_tail": [],
    }
    scratch = _Scratch(path, bin_dir, port)
    try:
        if bin_dir is None:
            scratch.bin_dir = bin_dir = _bin_dir(stanza, config)
        _validate(stanza, bin_dir, path, port, config, timeout)
        _drill(scratch, report, stanza, config, timeout)
    except _StepFailed as exc:
        report["error"] = str(exc)
    except Exception as exc:  # the scratch instance must go and the report out regardless
        log.exception("pgsalt_drill: unexpected error in step %s", scratch.step)
        report["error"] = f"{scratch.step}: unexpected error: {_one_line(exc)}"
    finally:
        _clean_up(scratch, report)
    report["result"] = report["error"] is None and all(c["ok"] for c in report["checks"])
    if not report["result"]:
        report["error"] = report["error"] or "check: a check failed"
        __context__["retcode"] = 1
    _send(report, cluster or stanza)
    return report
