"""
pgBackRest stanza and backup states for pgsalt, through the ``pgsalt_backrest``
execution module.

.. code-block:: yaml

    backrest-stanza:
      pgsalt_backrest.stanza_present:
        - name: main
        - pg_version: 17
        - runas: postgres

    backrest-first-full-backup:
      pgsalt_backrest.backup_present:
        - name: main
        - type: full
        - runas: postgres
        - require:
          - pgsalt_backrest: backrest-stanza

Both take ``config`` (a pgbackrest.conf other than the default), ``runas``
(``postgres`` on database hosts, ``pgbackrest`` on the repository host) and
``primary_only`` (with a posix repository every db host has the states and only the
current primary acts; the others succeed without changes).
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_backrest"

# Codes of a stanza that exists and can take backups: ok, and no valid backups yet.
_USABLE = (0, 2)
# Codes of a stanza that stanza-create makes: missing stanza path, missing stanza data.
_MISSING = (1, 3)
# Archiving may lag a new stanza or a leader change for a moment; a failed check
# is retried this often until check_timeout.
_CHECK_INTERVAL = 5


class _Unusable(CommandExecutionError):
    """The stanza is in a state that neither stanza-create nor stanza-upgrade fixes."""


def __virtual__():
    # Always loaded, so that a test=True run on a bare host predicts instead of failing.
    return __virtualname__


def _ret(name):
    """
    A fresh state return.

    CLI Example (internal):

    .. code-block:: python

        _ret("main")  # {'name': 'main', 'result': True, 'changes': {}, 'comment': ''}
    """
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _unavailable(name):
    """
    A state return for when pgsalt_backrest is not loaded (no pgbackrest), else None.

    CLI Example (internal):

    .. code-block:: python

        _unavailable("main")
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_backrest.status", "pgBackRest"
    )
    if missing:
        # The shared text points at pgsalt.python; pgBackRest comes from its own package.
        missing["comment"] = (
            "would be checked once pgBackRest is installed"
            if __opts__["test"]
            else "pgsalt_backrest is not available: pgbackrest is not on PATH; "
            "install the pgbackrest package first"
        )
    return missing


def _elsewhere(name, primary_only):
    """
    A state return for a host that must leave the work to the primary, else None:
    with PRIMARY_ONLY, unless Patroni says this host is the primary.

    CLI Example (internal):

    .. code-block:: python

        _elsewhere("main", True)  # on a replica: {'result': True, 'comment': '...', ...}
    """
    if not primary_only:
        return None
    try:
        role = __salt__["pgsalt_patroni.member"]().get("role")
    except (CommandExecutionError, KeyError) as exc:
        # KeyError: pgsalt_patroni is not loaded yet (a dry run on a bare host).
        role = f"unknown ({exc})"
    if role in ("primary", "master"):
        return None
    ret = _ret(name)
    ret["comment"] = f"stanza {name}: not the primary here (role {role}); the primary acts"
    return ret


def _conn(config, runas):
    """
    Keyword arguments for the execution module, without the unset ones.

    CLI Example (internal):

    .. code-block:: python

        _conn(None, "postgres")  # {'runas': 'postgres'}
    """
    given = {"config": config, "runas": runas}
    return {key: value for key, value in given.items() if value is not None}


def _version(name, conn):
    """
    The PostgreSQL version of the stanza's current database (the highest ``db`` id), or None.

    CLI Example (internal):

    .. code-block:: python

        _version("main", {"runas": "postgres"})  # '16'
    """
    dbs = __salt__["pgsalt_backrest.info"](name, **conn).get("db") or []
    current = max(dbs, key=lambda db: db["id"], default=None)
    return None if current is None else str(current["version"])


def _plan(name, pg_version, conn):
    """
    Decide what the stanza needs: ``(action, old)`` with action "create", "upgrade" or None.

    Raises _Unusable when the stanza is in a state neither fixes.

    CLI Example (internal):

    .. code-block:: python

        _plan("main", 17, {"runas": "postgres"})  # ('upgrade', 'PostgreSQL 16')
    """
    current = __salt__["pgsalt_backrest.status"](name, **conn)
    if current["code"] in _MISSING:
        return "create", current["message"]
    if current["code"] not in _USABLE:
        raise _Unusable(
            f"stanza {name} is not usable: {current['message']} (code {current['code']})"
        )
    if pg_version is not None:
        version = _version(name, conn)
        if version != str(pg_version):
            return "upgrade", f"PostgreSQL {version}"
    return None, current["message"]


def _check_until(name, timeout, conn):
    """
    Run ``check`` until it passes or TIMEOUT seconds have passed; None, or the last error.

    CLI Example (internal):

    .. code-block:: python

        _check_until("main", 60, {"runas": "postgres"})
    """
    deadline = time.monotonic() + timeout
    while True:
        left = max(1, int(deadline - time.monotonic()))
        try:
            __salt__["pgsalt_backrest.check"](name, timeout=left, **conn)
            return None
        except CommandExecutionError as exc:
            error = str(exc)
        if time.monotonic() + _CHECK_INTERVAL >= deadline:
            return error
        time.sleep(_CHECK_INTERVAL)


def stanza_present(name, pg_version=None, config=None, runas=None, check=True, check_timeout=60,
                   primary_only=False):
    """
    Make sure the stanza ``name`` exists for the running PostgreSQL and archives WAL.

    name
        The stanza.
    pg_version
        The PostgreSQL major version the cluster runs. When the stanza's current
        database has another version, ``stanza-upgrade`` is run (after a major upgrade).
    check
        Run ``pgbackrest check`` afterwards, retried until it passes or
        ``check_timeout`` seconds have passed: archiving may lag a new stanza or a
        leader change for a moment. A passing check is not a change.

    A missing stanza (status 1 or 3) is created; any status other than ok or "no
    valid backups" fails the state with pgBackRest's message.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_backrest.stanza_present main pg_version=17 runas=postgres
    """
    missing = _unavailable(name) or _elsewhere(name, primary_only)
    if missing:
        return missing
    ret = _ret(name)
    conn = _conn(config, runas)
    try:
        action, old = _plan(name, pg_version, conn)
    except CommandExecutionError as exc:
        if __opts__["test"] and not isinstance(exc, _Unusable):
            # A dry run before pgbackrest.conf or the repository exists.
            ret.update(
                result=None, comment=f"would set up stanza {name} once pgBackRest can run: {exc}"
            )
        else:
            ret.update(result=False, comment=str(exc))
        return ret

    new = {"create": "created", "upgrade": f"upgraded to {pg_version}"}.get(action)
    if __opts__["test"]:
        if action:
            ret.update(
                result=None,
                changes={"old": old, "new": new},
                comment=f"stanza {name} would be {new}",
            )
        else:
            ret["comment"] = f"stanza {name} is present ({old})" + (
                "; check is not run in test mode" if check else ""
            )
        return ret

    try:
        if action:
            __salt__[f"pgsalt_backrest.stanza_{action}"](name, **conn)
            ret["changes"] = {"old": old, "new": new}
        after, _ = _plan(name, pg_version, conn)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if after:
        ret.update(result=False, comment=f"stanza {name} still needs a stanza-{after}")
        return ret

    done = f"stanza {name} {new}" if action else f"stanza {name} is present"
    if check:
        error = _check_until(name, check_timeout, conn)
        if error:
            ret.update(
                result=False, comment=f"{done}, but check failed for {check_timeout}s: {error}"
            )
            return ret
        done += "; check passed"
    ret["comment"] = done
    return ret


def _stale(ages, type, max_age):
    """
    Why a new backup of TYPE is needed (the old state for changes), or None.

    CLI Example (internal):

    .. code-block:: python

        _stale({"full": 90000, "diff": None, "incr": None}, "full", 86400)
    """
    age = ages[type]
    if age is None:
        return f"no {type} backup"
    if max_age is not None and age >= max_age:
        return f"newest {type} backup is {age}s old"
    return None


def backup_present(name, type="full", max_age=None, config=None, runas=None, primary_only=False):
    """
    Make sure the stanza ``name`` has a backup of ``type`` (full, diff or incr), and,
    with ``max_age`` (seconds), that the newest one is younger than that; take one
    when not.

    pgBackRest takes a full backup instead of a diff or incr while there is no full
    one; the state then succeeds and says so, and the next run takes the one asked for.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_backrest.backup_present main type=full runas=postgres
    """
    missing = _unavailable(name) or _elsewhere(name, primary_only)
    if missing:
        return missing
    ret = _ret(name)
    conn = _conn(config, runas)
    if type not in ("full", "diff", "incr"):
        ret.update(result=False, comment=f"type must be full, diff or incr, not {type!r}")
        return ret
    try:
        old = _stale(__salt__["pgsalt_backrest.last_backup_age"](name, **conn), type, max_age)
    except CommandExecutionError as exc:
        if __opts__["test"]:
            ret.update(
                result=None, comment=f"would take a {type} backup once pgBackRest can run: {exc}"
            )
        else:
            ret.update(result=False, comment=str(exc))
        return ret

    if old is None:
        ret["comment"] = f"stanza {name} has a recent enough {type} backup"
        return ret
    if __opts__["test"]:
        ret.update(
            result=None,
            changes={"old": old, "new": f"{type} backup"},
            comment=f"would take a {type} backup of stanza {name} ({old})",
        )
        return ret

    try:
        made = __salt__["pgsalt_backrest.backup"](name, type=type, **conn)
        ret["changes"] = {"old": old, "new": made}
        still = _stale(
            __salt__["pgsalt_backrest.last_backup_age"](name, **conn), made["type"], max_age
        )
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret
    if still:
        ret.update(result=False, comment=f"backup {made['label']} was taken, but {still}")
        return ret
    ret["comment"] = f"took {made['type']} backup {made['label']} of stanza {name}"
    if made["type"] != type:
        ret["comment"] += f" (pgBackRest took a full backup: there was none to base a {type} on)"
    return ret
