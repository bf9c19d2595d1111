"""
SQL object states for pgsalt: roles, databases, extensions and PgBouncer's
auth function, on the local PostgreSQL.

Every state acts only on the primary: on a replica it succeeds without
changes, since the objects replicate from the leader.

.. code-block:: yaml

    pgsalt-role-app:
      pgsalt_sql.role_present:
        - name: app
        - password: {{ pillar.pgsalt.clusters.demo.roles.app.password }}

    pgsalt-db-app:
      pgsalt_sql.database_present:
        - name: app
        - owner: app
        - require:
          - pgsalt_sql: pgsalt-role-app

Connection overrides, for every state: ``db_host`` (socket directory),
``db_port``, ``db_user``. Passwords never appear in changes or comments.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_sql"

REPLICA_COMMENT = "not the primary; SQL objects are managed on the leader"
ROLE_ATTRS = ("login", "superuser", "createdb", "createrole", "replication", "connection_limit")


def __virtual__():
    # Always loaded, so that a test=True run on a bare host predicts instead of failing.
    return __virtualname__


def _begin(name, db_host, db_port, db_user):
    """
    The state's return and connection arguments; the connection is None when the
    state has nothing to do here (module not loaded yet, not the primary, no server)
    and the return is final.
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_sql.is_primary", "psycopg"
    )
    if missing:
        return missing, None
    ret = _ret(name)
    conn = _conn(db_host, db_port, db_user)
    if _not_here(ret, conn):
        return ret, None
    return ret, conn


def _ret(name):
    """
    A fresh state return.

    CLI Example (internal):

    .. code-block:: python

        _ret("app")  # {'name': 'app', 'result': True, 'changes': {}, 'comment': ''}
    """
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _conn(db_host, db_port, db_user):
    """
    Connection keyword arguments for the execution module, without the unset ones.

    CLI Example (internal):

    .. code-block:: python

        _conn(None, 5433, None)  # {'port': 5433}
    """
    given = {"host": db_host, "port": db_port, "user": db_user}
    return {key: value for key, value in given.items() if value is not None}


def _scrub(text, password):
    """
    Remove a password from text bound for a state return.

    The execution module never puts it there; this guards the one place
    where a leak would be public.

    CLI Example (internal):

    .. code-block:: python

        _scrub("failed for s3cret", "s3cret")  # 'failed for <redacted>'
    """
    if password:
        return str(text).replace(str(password), "<redacted>")
    return str(text)


def _fail(ret, exc, password=None):
    """
    Mark a return as failed with the error's text.

    CLI Example (internal):

    .. code-block:: python

        return _fail(ret, exc)
    """
    ret.update(result=False, comment=_scrub(exc, password))
    return ret


def _not_here(ret, conn):
    """
    Finish ``ret`` when PostgreSQL is unreachable or not the primary; else None.

    CLI Example (internal):

    .. code-block:: python

        if _not_here(ret, conn):
            return ret
    """
    try:
        primary = __salt__["pgsalt_sql.is_primary"](**conn)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=f"PostgreSQL is not reachable: {exc}")
        return ret
    if not primary:
        ret["comment"] = REPLICA_COMMENT
        return ret
    return None


def _diff(current, wanted):
    """
    ``(old, new)`` for the keys of ``wanted`` whose value differs in ``current``.

    CLI Example (internal):

    .. code-block:: python

        _diff({"owner": "a", "x": 1}, {"owner": "b"})  # ({'owner': 'a'}, {'owner': 'b'})
    """
    keys = [key for key, value in wanted.items() if current.get(key) != value]
    return {key: current.get(key) for key in keys}, {key: wanted[key] for key in keys}


def _norm_encoding(encoding):
    """
    Compare-friendly encoding name: 'utf-8', 'UTF8' and 'Unicode' are the same.

    CLI Example (internal):

    .. code-block:: python

        _norm_encoding("utf-8")  # 'UTF8'
    """
    text = str(encoding).upper().replace("-", "").replace("_", "")
    return "UTF8" if text == "UNICODE" else text


def _summary(found):
    """
    The parts of an auth_function_get result that changes report.

    CLI Example (internal):

    .. code-block:: python

        _summary({"owner": "postgres", ...})
    """
    keys = ("owner", "security_definer", "config", "source", "execute", "usage")
    return {key: (found or {}).get(key) for key in keys}


def role_present(
    name,
    password=None,
    login=True,
    superuser=False,
    createdb=False,
    createrole=False,
    replication=False,
    connection_limit=-1,
    db_host=None,
    db_port=None,
    db_user=None,
):
    """
    Make sure a role exists with these attributes and, if given, this password.

    The password is compared with the stored SCRAM verifier; a role with an
    md5 hash or none gets a SCRAM verifier. Changes show it only as
    ``{"password": "changed"}``.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_sql.role_present app password='...' createdb=True
    """
    if password is not None and str(password) == "":
        ret = _ret(name)
        ret.update(result=False, comment="password is empty; leave it unset to not manage it")
        return ret
    ret, conn = _begin(name, db_host, db_port, db_user)
    if conn is None:
        return ret
    wanted = {
        "login": bool(login),
        "superuser": bool(superuser),
        "createdb": bool(createdb),
        "createrole": bool(createrole),
        "replication": bool(replication),
        "connection_limit": int(connection_limit),
    }
    try:
        current = __salt__["pgsalt_sql.role_get"](name, **conn)
        password_ok = password is None or (
            current is not None and __salt__["pgsalt_sql.password_matches"](name, password, **conn)
        )
    except CommandExecutionError as exc:
        return _fail(ret, exc, password)

    if current is None:
        old, new = None, dict(wanted)
    else:
        old, new = _diff(current, wanted)
    if not password_ok:
        new["password"] = "changed"
    if current is not None and not new:
        ret["comment"] = f"role {name} is in the desired state"
        return ret

    verb = "created" if current is None else "updated"
    if __opts__["test"]:
        ret.update(result=None, changes={"old": old, "new": new})
        ret["comment"] = f"role {name} would be {verb}"
        return ret

    attrs = {key: value for key, value in new.items() if key != "password"}
    new_password = None if password_ok else password
    try:
        if current is None:
            __salt__["pgsalt_sql.role_create"](name, password=new_password, **wanted, **conn)
        else:
            __salt__["pgsalt_sql.role_alter"](name, password=new_password, **attrs, **conn)
        after = __salt__["pgsalt_sql.role_get"](name, **conn) or {}
        still = [key for key in ROLE_ATTRS if after.get(key) != wanted[key]]
        if password is not None and not __salt__["pgsalt_sql.password_matches"](
            name, password, **conn
        ):
            still.append("password")
    except CommandExecutionError as exc:
        return _fail(ret, exc, password)

    ret["changes"] = {"old": old, "new": new}
    if still:
        ret.update(result=False, comment=f"role {name} still differs in: {', '.join(still)}")
        return ret
    if current is None:
        ret["comment"] = f"role {name} created" + (" with a password" if password else "")
    else:
        ret["comment"] = f"role {name} updated" + ("" if password_ok else " (password changed)")
    return ret


def database_present(
    name, owner, encoding="UTF8", template=None, db_host=None, db_port=None, db_user=None
):
    """
    Make sure a database exists with this owner (and encoding, at creation).

    An existing database with another encoding is an error: PostgreSQL can't
    change it in place.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_sql.database_present app owner=app
    """
    ret, conn = _begin(name, db_host, db_port, db_user)
    if conn is None:
        return ret
    try:
        current = __salt__["pgsalt_sql.database_get"](name, **conn)
    except CommandExecutionError as exc:
        return _fail(ret, exc)

    if current is not None and _norm_encoding(current["encoding"]) != _norm_encoding(encoding):
        ret.update(
            result=False,
            comment=f"database {name} has encoding {current['encoding']}, not {encoding}; "
            "encodings can't be changed in place (dump and restore)",
        )
        return ret
    if current is None:
        old, new = None, {"owner": owner, "encoding": encoding}
    else:
        old, new = _diff(current, {"owner": owner})
    if not new:
        ret["comment"] = f"database {name} is in the desired state"
        return ret

    verb = "created" if current is None else "given to " + owner
    if __opts__["test"]:
        ret.update(result=None, changes={"old": old, "new": new})
        ret["comment"] = f"database {name} would be {verb}"
        return ret

    try:
        if current is None:
            create_args = {"encoding": encoding, **conn}
            if template is not None:
                create_args["template"] = template
            __salt__["pgsalt_sql.database_create"](name, owner, **create_args)
        else:
            __salt__["pgsalt_sql.database_alter_owner"](name, owner, **conn)
        after = __salt__["pgsalt_sql.database_get"](name, **conn)
    except CommandExecutionError as exc:
        return _fail(ret, exc)

    if after is None or after["owner"] != owner:
        ret.update(result=False, comment=f"database {name} is not owned by {owner} after {verb}")
        return ret
    if current is None:
        new = dict(after)
    ret.update(changes={"old": old, "new": new}, comment=f"database {name} {verb}")
    return ret


def role_member(name, group, db_host=None, db_port=None, db_user=None):
    """
    Make sure role NAME is a member of role GROUP (e.g. ``pg_monitor``).

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_sql.role_member prometheus group=pg_monitor
    """
    ret, conn = _begin(name, db_host, db_port, db_user)
    if conn is None:
        return ret
    try:
        current = __salt__["pgsalt_sql.role_member_of"](name, group, **conn)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    if current:
        ret["comment"] = f"role {name} is a member of {group}"
        return ret
    if current is None and not __opts__["test"]:
        ret.update(result=False, comment=f"role {name} or {group} does not exist")
        return ret
    changes = {"old": {"member_of": None}, "new": {"member_of": group}}
    if __opts__["test"]:
        ret.update(result=None, changes=changes,
                   comment=f"role {name} would be made a member of {group}")
        return ret
    try:
        __salt__["pgsalt_sql.role_grant"](name, group, **conn)
        after = __salt__["pgsalt_sql.role_member_of"](name, group, **conn)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    if not after:
        ret.update(result=False, comment=f"role {name} is still not a member of {group}")
        return ret
    ret.update(changes=changes, comment=f"role {name} made a member of {group}")
    return ret


def extension_present(name, dbname, db_host=None, db_port=None, db_user=None):
    """
    Make sure extension ``name`` is installed in database ``dbname``.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_sql.extension_present pg_stat_statements dbname=app
    """
    ret, conn = _begin(name, db_host, db_port, db_user)
    if conn is None:
        return ret
    try:
        current = __salt__["pgsalt_sql.extension_get"](name, dbname, **conn)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    if current is not None:
        ret["comment"] = f"extension {name} is installed in {dbname}"
        return ret

    if __opts__["test"]:
        ret.update(result=None, changes={"old": None, "new": {"name": name, "dbname": dbname}})
        ret["comment"] = f"extension {name} would be created in {dbname}"
        return ret

    try:
        __salt__["pgsalt_sql.extension_create"](name, dbname, **conn)
        after = __salt__["pgsalt_sql.extension_get"](name, dbname, **conn)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    if after is None:
        ret.update(result=False, comment=f"extension {name} is still missing in {dbname}")
        return ret
    ret["changes"] = {"old": None, "new": {**after, "dbname": dbname}}
    ret["comment"] = f"extension {name} created in {dbname}"
    return ret


def auth_function_present(
    name,
    auth_user,
    dbname,
    schema="pgbouncer",
    owner="postgres",
    db_host=None,
    db_port=None,
    db_user=None,
):
    """
    Make sure PgBouncer's auth_query function ``<schema>.get_auth(text)`` is in ``dbname``.

    name
        The function's qualified name, for the state's ID only (e.g.
        ``pgbouncer.get_auth``); ``schema`` says where it goes.
    auth_user
        The role PgBouncer logs in as to run auth_query; the only grantee.
    owner
        The superuser that owns schema and function (SECURITY DEFINER).

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_sql.auth_function_present pgbouncer.get_auth \\
            auth_user=pgbouncer_auth dbname=app
    """
    ret, conn = _begin(name, db_host, db_port, db_user)
    if conn is None:
        return ret
    lookup = {"schema": schema, "auth_user": auth_user, "owner": owner, **conn}
    try:
        current = __salt__["pgsalt_sql.auth_function_get"](dbname, **lookup)
    except CommandExecutionError as exc:
        return _fail(ret, exc)

    problems = current["problems"] if current is not None else ["missing"]
    if not problems:
        ret["comment"] = f"auth function {schema}.get_auth is in place in {dbname}"
        return ret

    function = f"{schema}.get_auth(text)"
    if __opts__["test"]:
        old = None if current is None else {"problems": problems}
        new = {"function": function, "owner": owner, "auth_user": auth_user}
        ret.update(result=None, changes={"old": old, "new": new})
        ret["comment"] = f"auth function {function} would be set up in {dbname}: " + ", ".join(
            problems
        )
        return ret

    try:
        __salt__["pgsalt_sql.auth_function_create"](
            auth_user, dbname, schema=schema, owner=owner, **conn
        )
        after = __salt__["pgsalt_sql.auth_function_get"](dbname, **lookup)
    except CommandExecutionError as exc:
        return _fail(ret, exc)

    after_summary = _summary(after)
    if current is None:
        ret["changes"] = {"old": None, "new": after_summary}
    else:
        old, new = _diff(_summary(current), after_summary)
        ret["changes"] = {"old": old or {"problems": problems}, "new": new or {"problems": []}}
    left = after["problems"] if after is not None else ["missing"]
    if left:
        ret.update(result=False, comment=f"auth function {function} still wrong: {', '.join(left)}")
        return ret
    ret["comment"] = f"auth function {function} set up in {dbname} ({', '.join(problems)})"
    return ret
