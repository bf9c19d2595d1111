"""
pgBackRest (2.45 - 2.55) for pgsalt, through the ``pgbackrest`` command.

Every function takes the stanza plus ``config`` (a pgbackrest.conf other than
the default) and ``runas`` (the OS user to run as: ``postgres`` on database
hosts, ``pgbackrest`` on the repository host). Secrets such as the repository
cipher passphrase stay in the configuration file: nothing here puts one on a
command line, and no return carries the command's environment.

Failures raise CommandExecutionError naming the pgBackRest command and its
error lines, e.g. ``pgbackrest check failed: ERROR: [082]: WAL segment ...``.

Stanza status codes, as ``pgbackrest info`` reports them:

==== ==============================================================
0    ok
1    missing stanza path (no stanza-create yet)
2    no valid backups
3    missing stanza data (no stanza-create yet)
4    different across repos (details per repository)
5    database mismatch across repos
6    requested backup not found (info with ``set``)
99   other: an error reading the repository (details per repository)
==== ==============================================================
"""

import json
import re
import time

import salt.utils.path
from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_backrest"

BACKUP_TYPES = ("full", "diff", "incr")
TARGET_TYPES = ("time", "lsn", "xid", "name", "immediate")
TARGET_ACTIONS = ("pause", "promote", "shutdown")
ARCHIVE_MODES = ("off", "preserve")
# A check waits up to --archive-timeout for its WAL segment; connecting and
# switching WAL take a few seconds more, so a run this much longer is hung.
_CHECK_GRACE = 30
# pgBackRest prints errors as "ERROR: [056]: text" (after a timestamp and
# process id at higher console log levels); ASSERT marks its internal errors.
_ERROR_LINE = re.compile(r"\b(?:ERROR|ASSERT): \[\d+\]:")


def __virtual__():
    if salt.utils.path.which("pgbackrest"):
        return __virtualname__
    return (False, "pgbackrest is not on PATH; install the pgbackrest package")


def _error_text(stdout, stderr):
    """
    pgBackRest's error lines from a failed run, with their indented HINT lines.

    Falls back to the last lines of stderr (else stdout) when there is no ERROR line,
    e.g. when ``su`` itself fails.

    CLI Example (internal):

    .. code-block:: python

        _error_text("", "ERROR: [056]: unable to find primary cluster - cannot proceed\\n")
    """
    found = []
    for stream in (stderr, stdout):
        inside = False
        for line in (stream or "").splitlines():
            match = _ERROR_LINE.search(line)
            if match:
                found.append(line[match.start() :].strip())
                inside = True
            elif inside and line[:1].isspace() and line.strip():
                found.append(line.strip())
            else:
                inside = False
    if found:
        return "\n".join(found)
    tail = [line.strip() for line in (stderr or stdout or "").splitlines() if line.strip()]
    return "\n".join(tail[-5:])


def _run(args, stanza, config, runas, json_out=False, timeout=None):
    """
    Run ``pgbackrest COMMAND OPTIONS...`` and return its stdout (parsed with json_out).

    ``args`` is the command and its own options; ``timeout`` kills a run that takes
    longer (seconds).

    CLI Example (internal):

    .. code-block:: python

        _run(["backup", "--type=full"], "main", None, "postgres")
    """
    argv = ["pgbackrest", *args]
    if config:
        argv.append(f"--config={config}")
    if stanza:
        argv.append(f"--stanza={stanza}")
    if json_out:
        argv.append("--output=json")
    kwargs = {"runas": runas, "python_shell": False, "ignore_retcode": True}
    if timeout:
        kwargs["timeout"] = timeout
    result = __salt__["cmd.run_all"](argv, **kwargs)
    if result["retcode"] != 0:
        if timeout and "Timed out after" in (result.get("stdout") or ""):
            # Salt's timeout text quotes the whole command line: say it plainly instead.
            detail = f"killed after {timeout} s without finishing"
        else:
            detail = _error_text(result.get("stdout"), result.get("stderr"))
        detail = detail or f"exit code {result['retcode']}"
        raise CommandExecutionError(f"pgbackrest {args[0]} failed: {detail}")
    if not json_out:
        return result["stdout"]
    # The JSON is one line at the end; a warning about the configuration can precede it.
    lines = [line for line in result["stdout"].splitlines() if line.startswith("[")]
    try:
        return json.loads(lines[-1] if lines else result["stdout"])
    except ValueError as exc:
        raise CommandExecutionError(f"pgbackrest {args[0]} printed no JSON: {exc}") from exc


def _extra(extra):
    """
    Validate additional ``--option=value`` arguments; a single string is one option.

    CLI Example (internal):

    .. code-block:: python

        _extra(["--start-fast", "--process-max=4"])
    """
    if extra is None:
        return []
    if isinstance(extra, str):
        extra = [extra]
    for option in extra:
        if not isinstance(option, str) or not option.startswith("--") or "\n" in option:
            raise CommandExecutionError(f"not a pgBackRest --option: {option!r}")
    return list(extra)


def _newest(backups, kind=None):
    """
    The backup entry (of type KIND, any when None) that stopped last, or None.

    CLI Example (internal):

    .. code-block:: python

        _newest(info("main")["backup"], "full")
    """
    found = [b for b in backups if kind is None or b.get("type") == kind]
    return max(found, key=lambda b: b["timestamp"]["stop"], default=None)


def _summary(entry):
    """
    The fields of one ``info`` backup entry that callers use.

    CLI Example (internal):

    .. code-block:: python

        _summary(info("main")["backup"][-1])
    """
    sizes = entry.get("info") or {}
    return {
        "label": entry.get("label"),
        "type": entry.get("type"),
        "start": entry["timestamp"]["start"],
        "stop": entry["timestamp"]["stop"],
        "size": sizes.get("size"),
        "repo_size": (sizes.get("repository") or {}).get("size"),
        "wal_start": (entry.get("archive") or {}).get("start"),
        "wal_stop": (entry.get("archive") or {}).get("stop"),
    }


def info(stanza=None, set=None, config=None, runas=None):
    """
    ``pgbackrest info --output=json``, parsed.

    Without a stanza: the list of every stanza in the repository. With one: that
    stanza's dict (``{}`` if absent); pgBackRest lists a stanza it was asked for even
    when it does not exist, with status code 1. ``set`` (a backup label) adds that
    backup's details (databases, tablespaces, links).

    Backups are listed oldest first; ``timestamp.start``/``stop`` are Unix seconds;
    the current database is the ``db`` entry with the highest id.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.info main runas=postgres
    """
    args = ["info"]
    if set:
        args.append(f"--set={set}")
    found = _run(args, stanza, config, runas, json_out=True)
    if stanza is None:
        return found
    return next((entry for entry in found if entry.get("name") == stanza), {})


def _status_of(entry):
    """
    ``{"code", "message"}`` for one stanza dict from ``info``.

    Codes 4 and 99 say only "different across repos" or "other": the reasons are
    per repository, so they are added to the message.

    CLI Example (internal):

    .. code-block:: python

        _status_of(info("main"))  # {'code': 0, 'message': 'ok'}
    """
    if not entry:
        return {"code": 1, "message": "missing stanza path"}
    reported = entry.get("status") or {}
    code = int(reported.get("code", 99))
    message = reported.get("message") or "unknown"
    reasons = [
        f"repo{repo.get('key')}: {repo['status'].get('message')}"
        for repo in entry.get("repo") or []
        if (repo.get("status") or {}).get("code") not in (None, 0)
    ]
    if code not in (0, 1, 2, 3) and reasons:
        message = f"{message} ({'; '.join(reasons)})"
    return {"code": code, "message": message}


def status(stanza, config=None, runas=None):
    """
    The stanza's status: ``{"code": int, "message": str}`` (codes in the module doc).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.status main runas=postgres
    """
    return _status_of(info(stanza, config=config, runas=runas))


def check(stanza, timeout=None, config=None, runas=None):
    """
    ``pgbackrest check``: the configuration, and that WAL gets archived.

    ``timeout`` (seconds) is how long to wait for the WAL segment to reach the
    repository (``--archive-timeout``; pgBackRest's default is 60). Returns True;
    raises with pgBackRest's error otherwise.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.check main timeout=30 runas=postgres
    """
    args = ["check"]
    if timeout:
        args.append(f"--archive-timeout={timeout}")
    _run(args, stanza, config, runas, timeout=timeout + _CHECK_GRACE if timeout else None)
    return True


def stanza_create(stanza, config=None, runas=None):
    """
    ``pgbackrest stanza-create``; True, or raises. A stanza that exists and matches is
    left alone by pgBackRest.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.stanza_create main runas=postgres
    """
    _run(["stanza-create"], stanza, config, runas)
    return True


def stanza_upgrade(stanza, config=None, runas=None):
    """
    ``pgbackrest stanza-upgrade``, after a PostgreSQL major upgrade; True, or raises.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.stanza_upgrade main runas=postgres
    """
    _run(["stanza-upgrade"], stanza, config, runas)
    return True


def backup(stanza, type="full", extra=None, config=None, runas=None):
    """
    Take a backup of TYPE (full, diff or incr) and return it, as read back from ``info``:
    label, type, start, stop (Unix seconds), size, repo_size, wal_start, wal_stop.

    pgBackRest takes a full backup instead of a diff or incr when there is no full
    one to base it on: the returned type says which was taken. ``extra`` is a list of
    further ``--option=value`` arguments, e.g. ``["--start-fast"]``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.backup main type=diff runas=postgres
        salt pg1 pgsalt_backrest.backup main extra='["--start-fast"]' runas=postgres
    """
    if type not in BACKUP_TYPES:
        raise CommandExecutionError(f"backup type must be one of {', '.join(BACKUP_TYPES)}")
    _run(["backup", f"--type={type}", *_extra(extra)], stanza, config, runas)
    newest = _newest(info(stanza, config=config, runas=runas).get("backup") or [])
    if newest is None:
        raise CommandExecutionError(f"pgbackrest backup finished but stanza {stanza} lists none")
    return _summary(newest)


def restore(
    stanza,
    pg_path=None,
    target_type=None,
    target=None,
    target_action="promote",
    target_timeline=None,
    set=None,
    delta=False,
    archive_mode=None,
    extra=None,
    config=None,
    runas=None,
):
    """
    Restore the stanza into ``pg_path`` (``--pg1-path``; the configured one when None).
    PostgreSQL must be stopped.

    target_type
        ``time``, ``lsn``, ``xid`` or ``name`` (each with ``target``), ``immediate``
        (the end of the backup), or None/``latest`` for the end of the WAL archive.
    target_action
        ``promote``, ``pause`` or ``shutdown`` once the target is reached; not used
        for ``latest``, which always ends promoted.
    target_timeline, set, delta, archive_mode (``off``/``preserve``)
        Passed as pgBackRest's options of those names; ``set`` is a backup label.

    Returns what was asked for, and ``seconds``, the restore's run time.

    CLI Example:

    .. code-block:: bash

        salt pg2 pgsalt_backrest.restore main delta=True runas=postgres
        salt pg2 pgsalt_backrest.restore main target_type=time \\
            target='2025-06-01 12:00:00+00' target_action=pause runas=postgres
    """
    latest = target_type in (None, "latest")
    if not latest and target_type not in TARGET_TYPES:
        raise CommandExecutionError(
            f"target_type must be latest or one of {', '.join(TARGET_TYPES)}, not {target_type!r}"
        )
    if target_type in ("time", "lsn", "xid", "name") and target in (None, ""):
        raise CommandExecutionError(f"target_type {target_type} needs a target")
    if (latest or target_type == "immediate") and target not in (None, ""):
        raise CommandExecutionError(f"target_type {target_type or 'latest'} takes no target")
    if not latest and target_action not in TARGET_ACTIONS:
        raise CommandExecutionError(f"target_action must be one of {', '.join(TARGET_ACTIONS)}")
    if archive_mode is not None and archive_mode not in ARCHIVE_MODES:
        raise CommandExecutionError(f"archive_mode must be one of {', '.join(ARCHIVE_MODES)}")

    args = ["restore"]
    if pg_path:
        args.append(f"--pg1-path={pg_path}")
    if not latest:
        args.append(f"--type={target_type}")
        if target_type != "immediate":
            args.append(f"--target={target}")
        args.append(f"--target-action={target_action}")
    if target_timeline:
        args.append(f"--target-timeline={target_timeline}")
    if set:
        args.append(f"--set={set}")
    if delta:
        args.append("--delta")
    if archive_mode:
        args.append(f"--archive-mode={archive_mode}")
    args.extend(_extra(extra))

    started = time.monotonic()
    _run(args, stanza, config, runas)
    return {
        "stanza": stanza,
        "pg_path": pg_path,
        "target_type": "latest" if latest else target_type,
        "target": target,
        "target_action": None if latest else target_action,
        "target_timeline": target_timeline,
        "set": set,
        "delta": bool(delta),
        "archive_mode": archive_mode,
        "seconds": round(time.monotonic() - started, 1),
    }


def expire(stanza, config=None, runas=None):
    """
    ``pgbackrest expire``: drop backups and WAL beyond the configured retention.

    CLI Example:

    .. code-block:: bash

        salt backup1 pgsalt_backrest.expire main runas=pgbackrest
    """
    _run(["expire"], stanza, config, runas)
    return True


def last_backup_age(stanza, now=None, config=None, runas=None):
    """
    Seconds since the newest backup of each type stopped (``timestamp.stop``):
    ``{"full": s, "diff": s, "incr": s}``, None for a type with no backup.

    Each type counts only its own backups: a full backup is not also reported as the
    newest diff or incr, even though it covers what they would. Ask for ``full`` to
    know how old the newest restorable base is. ``now`` (Unix seconds) defaults to
    the current time.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_backrest.last_backup_age main runas=postgres
    """
    now = time.time() if now is None else now
    backups = info(stanza, config=config, runas=runas).get("backup") or []
    ages = {}
    for kind in BACKUP_TYPES:
        newest = _newest(backups, kind)
        # Hosts' clocks differ a little; a backup is never younger than just now.
        ages[kind] = None if newest is None else max(0, int(now - newest["timestamp"]["stop"]))
    return ages
