"""
SQL objects on the local PostgreSQL for pgsalt, through psycopg 3.

Connections go over the unix socket (``host='/var/run/postgresql'``) as
``user='postgres'``: the formula's pg_hba maps OS user root to that role with
peer authentication and pg_ident, so no password is involved. Every
connection is in autocommit mode, which CREATE DATABASE needs anyway.

Passwords are turned into SCRAM-SHA-256 verifiers here, on the client side,
so a plaintext password never reaches the server (nor its logs), and they
never appear in return data, exceptions or logs.
"""

import base64
import contextlib
import datetime
import decimal
import hashlib
import hmac
import logging
import os
import re
import stringprep
import unicodedata
import uuid

from salt.exceptions import CommandExecutionError

try:
    import psycopg
    from psycopg import sql
    from psycopg.rows import dict_row

    IMPORT_ERROR = None
except ImportError as exc:
    IMPORT_ERROR = f"psycopg (3) is not installed ({exc})"

log = logging.getLogger(__name__)

__virtualname__ = "pgsalt_sql"

DEFAULT_HOST = "/var/run/postgresql"
DEFAULT_PORT = 5432
DEFAULT_USER = "postgres"
DEFAULT_DBNAME = "postgres"
CONNECT_TIMEOUT = 10

SCRAM_ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SCRAM_SALT_LEN = 16  # as PostgreSQL's SCRAM_DEFAULT_SALT_LEN
SCRAM_RE = re.compile(
    r"^SCRAM-SHA-256\$(?P<iterations>\d+):(?P<salt>[A-Za-z0-9+/=]+)"
    r"\$(?P<stored_key>[A-Za-z0-9+/=]+):(?P<server_key>[A-Za-z0-9+/=]+)$"
)

ROLE_FLAGS = {
    "login": "LOGIN",
    "superuser": "SUPERUSER",
    "createdb": "CREATEDB",
    "createrole": "CREATEROLE",
    "replication": "REPLICATION",
}

AUTH_FUNCTION = "get_auth"
AUTH_FUNCTION_BODY = "SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = p_usename"
AUTH_FUNCTION_CONFIG = ["search_path=pg_catalog"]


def __virtual__():
    if IMPORT_ERROR:
        return (False, f"{IMPORT_ERROR}; install psycopg[binary] into the minion's Python")
    return __virtualname__


# --- connections -------------------------------------------------------------


def _error_text(exc):
    """
    The server's primary message for a psycopg error, without statement text.

    ``str(exc)`` can quote the statement ("LINE 1: ALTER ROLE ... PASSWORD ..."),
    so it is never used for errors from statements.

    CLI Example (internal):

    .. code-block:: python

        _error_text(exc)  # 'role "app" already exists (42710)'
    """
    diag = getattr(exc, "diag", None)
    primary = diag.message_primary if diag is not None else None
    if primary:
        return f"{primary} ({exc.sqlstate})" if exc.sqlstate else primary
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


@contextlib.contextmanager
def _connect(host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER, dbname=DEFAULT_DBNAME):
    """
    An autocommit connection that is closed on exit.

    CLI Example (internal):

    .. code-block:: python

        with _connect(dbname="app") as conn:
            conn.execute("SELECT 1")
    """
    try:
        conn = psycopg.connect(
            host=host,
            port=int(port),
            user=user,
            dbname=dbname,
            autocommit=True,
            connect_timeout=CONNECT_TIMEOUT,
            application_name="pgsalt",
        )
    except psycopg.Error as exc:
        raise CommandExecutionError(
            f"cannot connect to PostgreSQL at {host}:{port} as {user} "
            f"(database {dbname}): {_error_text(exc)}"
        ) from exc
    try:
        yield conn
    finally:
        conn.close()


def _run(conn, what, statement, params=None, secret=None):
    """
    Execute one statement and return its rows as dicts ([] when it returns none).

    ``secret`` is scrubbed from the error text, belt and braces for
    statements that carry a password verifier.

    CLI Example (internal):

    .. code-block:: python

        _run(conn, "role lookup", "SELECT * FROM pg_roles WHERE rolname = %s", ["app"])
    """
    try:
        with conn.cursor(row_factory=dict_row) as cur:
            cur.execute(statement, params)
            return cur.fetchall() if cur.description else []
    except psycopg.Error as exc:
        text = _error_text(exc)
        if secret:
            text = text.replace(secret, "<redacted>")
        # "from None": the original exception's text may quote the statement.
        raise CommandExecutionError(f"{what} failed: {text}") from None


def _fetch(what, statement, params=None, conn_args=None):
    """
    Connect, run one statement, return rows as dicts.

    CLI Example (internal):

    .. code-block:: python

        _fetch("role lookup", "SELECT 1 AS one", conn_args={"dbname": "postgres"})
    """
    with _connect(**(conn_args or {})) as conn:
        return _run(conn, what, statement, params)


def _conn_args(host, port, user, dbname):
    """
    Connection keyword arguments in one dict.

    CLI Example (internal):

    .. code-block:: python

        _conn_args("/var/run/postgresql", 5432, "postgres", "postgres")
    """
    return {"host": host, "port": port, "user": user, "dbname": dbname}


def _plain(value):
    """
    Make a column value safe for Salt's serialisers (msgpack, JSON, YAML).

    CLI Example (internal):

    .. code-block:: python

        _plain(decimal.Decimal("1.5"))  # '1.5'
    """
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, datetime.date | datetime.time | datetime.timedelta):
        return str(value)
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return value


# --- generic -----------------------------------------------------------------


def is_primary(host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER, dbname=DEFAULT_DBNAME):
    """
    True when the local PostgreSQL is a primary (not in recovery).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.is_primary
    """
    rows = _fetch(
        "recovery check",
        "SELECT NOT pg_catalog.pg_is_in_recovery() AS primary",
        conn_args=_conn_args(host, port, user, dbname),
    )
    return bool(rows[0]["primary"])


def query(
    sql,  # shadows psycopg.sql in here only; the name is the documented argument
    params=None,
    dbname=DEFAULT_DBNAME,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
):
    """
    Run one SQL statement and return its rows as a list of dicts.

    ``params`` is a list (``%s`` placeholders) or a dict (``%(name)s``).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.query "SELECT datname FROM pg_database"
        salt pg1 pgsalt_sql.query "SELECT * FROM pg_roles WHERE rolname = %s" params='[app]'
    """
    rows = _fetch("query", sql, params, _conn_args(host, port, user, dbname))
    return [_plain(row) for row in rows]


# --- SCRAM -------------------------------------------------------------------


def _saslprep(password):
    """
    Normalise a password the way PostgreSQL's pg_saslprep does (RFC 4013).

    Mirrors PostgreSQL, quirks included: pure ASCII is used as is; the
    prohibited/bidi checks run on the mapped input before NFKC; and when a
    check fails (or nothing is left) the original password is used unchanged.

    CLI Example (internal):

    .. code-block:: python

        _saslprep("I\\u00adX")  # 'IX'
    """
    if password.isascii():
        return password
    mapped = []
    for char in password:
        if stringprep.in_table_c12(char):
            mapped.append(" ")
        elif not stringprep.in_table_b1(char):
            mapped.append(char)
    if not mapped or any(_prohibited(char) for char in mapped):
        return password
    if any(stringprep.in_table_d1(char) for char in mapped):
        if any(stringprep.in_table_d2(char) for char in mapped):
            return password
        if not (stringprep.in_table_d1(mapped[0]) and stringprep.in_table_d1(mapped[-1])):
            return password
    return unicodedata.normalize("NFKC", "".join(mapped))


def _prohibited(char):
    """
    True for SASLprep's prohibited output (C.1.2, C.2-C.9) and unassigned (A.1) characters.

    CLI Example (internal):

    .. code-block:: python

        _prohibited("\\ue000")  # True, private use
    """
    return (
        stringprep.in_table_c12(char)
        or stringprep.in_table_c21_c22(char)
        or stringprep.in_table_c3(char)
        or stringprep.in_table_c4(char)
        or stringprep.in_table_c5(char)
        or stringprep.in_table_c6(char)
        or stringprep.in_table_c7(char)
        or stringprep.in_table_c8(char)
        or stringprep.in_table_c9(char)
        or stringprep.in_table_a1(char)
    )


def _scram_keys(password, salt, iterations):
    """
    (StoredKey, ServerKey) for a password, per RFC 5802 / RFC 7677.

    CLI Example (internal):

    .. code-block:: python

        _scram_keys("secret", b"0123456789abcdef", 4096)
    """
    salted = hashlib.pbkdf2_hmac(
        "sha256", _saslprep(str(password)).encode("utf-8"), salt, int(iterations)
    )
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def _b64(data):
    """
    Standard base64 text, as PostgreSQL writes it in verifiers.

    CLI Example (internal):

    .. code-block:: python

        _b64(b"salt")  # 'c2FsdA=='
    """
    return base64.b64encode(data).decode("ascii")


def is_scram_verifier(text):
    """
    True when ``text`` is a SCRAM-SHA-256 verifier (as stored in pg_authid).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.is_scram_verifier 'SCRAM-SHA-256$4096:...'
    """
    return isinstance(text, str) and SCRAM_RE.match(text) is not None


def scram_verifier(password, salt=None, iterations=SCRAM_ITERATIONS):
    """
    Compute a PostgreSQL SCRAM-SHA-256 verifier for ``password``.

    ``salt`` is raw bytes or base64 text; a random 16-byte salt by default.
    The result, ``SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>``,
    can be given to CREATE/ALTER ROLE ... PASSWORD, which stores it as is.

    CLI Example:

    .. code-block:: bash

        salt-call pgsalt_sql.scram_verifier 'pencil' salt=c2FsdHNhbHRzYWx0c2FsdA==
    """
    if password is None or str(password) == "":
        raise CommandExecutionError("an empty password has no verifier")
    if salt is None:
        salt = os.urandom(SCRAM_SALT_LEN)
    elif isinstance(salt, str):
        salt = base64.b64decode(salt, validate=True)
    stored_key, server_key = _scram_keys(password, salt, iterations)
    return f"SCRAM-SHA-256${int(iterations)}:{_b64(salt)}${_b64(stored_key)}:{_b64(server_key)}"


def _verifier_matches(verifier, password):
    """
    True when ``password`` (plaintext, or a verifier itself) fits a stored verifier.

    CLI Example (internal):

    .. code-block:: python

        _verifier_matches(scram_verifier("pw"), "pw")  # True
    """
    found = SCRAM_RE.match(verifier or "")
    if not found:
        return False  # md5 hash, plaintext remnant or NULL: not SCRAM, so not a match
    if is_scram_verifier(str(password)):
        return hmac.compare_digest(verifier, str(password))
    salt = base64.b64decode(found["salt"])
    stored_key, server_key = _scram_keys(password, salt, int(found["iterations"]))
    return hmac.compare_digest(
        stored_key, base64.b64decode(found["stored_key"])
    ) and hmac.compare_digest(server_key, base64.b64decode(found["server_key"]))


def password_matches(
    name,
    password,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
    dbname=DEFAULT_DBNAME,
):
    """
    True when role ``name`` has a SCRAM verifier that fits ``password``.

    Reads pg_authid (superuser only) and recomputes the keys with the stored
    salt and iteration count. An md5 hash, no password or no role gives False.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.password_matches app 'the password'
    """
    rows = _fetch(
        "password lookup",
        "SELECT rolpassword FROM pg_catalog.pg_authid WHERE rolname = %s",
        [name],
        _conn_args(host, port, user, dbname),
    )
    if not rows:
        return False
    return _verifier_matches(rows[0]["rolpassword"], password)


# --- roles -------------------------------------------------------------------


def _truthy(value):
    """
    A role flag's value as bool, taking "false"/"no"/"0" text for False.

    CLI Example (internal):

    .. code-block:: python

        _truthy("False")  # False
    """
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no", "off")
    return bool(value)


def _role_options(password, attrs):
    """
    Compose the option list of CREATE/ALTER ROLE and the verifier it carries.

    Returns ``(parts, verifier)``; unknown attributes are an error, Salt's
    own ``__pub_*`` keyword arguments are ignored.

    CLI Example (internal):

    .. code-block:: python

        _role_options("pw", {"login": True, "connection_limit": 10})
    """
    parts = []
    for key, value in attrs.items():
        if key.startswith("__"):
            continue
        if key in ROLE_FLAGS:
            flag = ROLE_FLAGS[key]
            parts.append(sql.SQL(flag if _truthy(value) else f"NO{flag}"))
        elif key == "connection_limit":
            parts.append(sql.SQL("CONNECTION LIMIT {}").format(sql.Literal(int(value))))
        else:
            raise CommandExecutionError(f"unknown role attribute {key!r}")
    verifier = None
    if password is not None:
        if str(password) == "":
            raise CommandExecutionError("an empty password is not allowed")
        password = str(password)
        verifier = password if is_scram_verifier(password) else scram_verifier(password)
        parts.append(sql.SQL("PASSWORD {}").format(sql.Literal(verifier)))
    return parts, verifier


def role_get(name, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER, dbname=DEFAULT_DBNAME):
    """
    A role's attributes, or None when it doesn't exist.

    Returns ``{"login", "superuser", "createdb", "createrole", "replication",
    "connection_limit"}``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.role_get app
    """
    rows = _fetch(
        "role lookup",
        "SELECT rolcanlogin AS login, rolsuper AS superuser, rolcreatedb AS createdb,"
        " rolcreaterole AS createrole, rolreplication AS replication,"
        " rolconnlimit AS connection_limit"
        " FROM pg_catalog.pg_roles WHERE rolname = %s",
        [name],
        _conn_args(host, port, user, dbname),
    )
    return rows[0] if rows else None


def _role_statement(verb, name, password, attrs, conn_args):
    """
    Run CREATE ROLE or ALTER ROLE with the given options.

    CLI Example (internal):

    .. code-block:: python

        _role_statement("CREATE", "app", "pw", {"login": True}, {})
    """
    options, verifier = _role_options(password, attrs)
    statement = sql.SQL("{} ROLE {}").format(sql.SQL(verb), sql.Identifier(name))
    if options:
        statement = sql.SQL("{} WITH {}").format(statement, sql.SQL(" ").join(options))
    with _connect(**conn_args) as conn:
        _run(conn, f"{verb} ROLE {name}", statement, secret=verifier)
    return True


def role_create(
    name,
    password=None,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
    dbname=DEFAULT_DBNAME,
    **attrs,
):
    """
    Create a role; attributes: login, superuser, createdb, createrole,
    replication (bools), connection_limit (int).

    The password is sent as a SCRAM verifier computed here; a verifier may
    also be given as the password and is stored as is.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.role_create app password='...' login=True connection_limit=50
    """
    return _role_statement("CREATE", name, password, attrs, _conn_args(host, port, user, dbname))


def role_alter(
    name,
    password=None,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
    dbname=DEFAULT_DBNAME,
    **attrs,
):
    """
    Change a role's attributes and/or password (see role_create); True when done.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.role_alter app createdb=False
    """
    options, _ = _role_options(password, attrs)
    if not options:
        return True
    return _role_statement("ALTER", name, password, attrs, _conn_args(host, port, user, dbname))


def role_member_of(name, group, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER,
                   dbname=DEFAULT_DBNAME):
    """
    True when role NAME is a member of role GROUP (directly or through another role);
    None when either role does not exist.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.role_member_of prometheus pg_monitor
    """
    rows = _fetch(
        "role membership lookup",
        "SELECT pg_has_role(m.oid, g.oid, 'MEMBER') AS member FROM pg_catalog.pg_roles m,"
        " pg_catalog.pg_roles g WHERE m.rolname = %s AND g.rolname = %s",
        [name, group],
        _conn_args(host, port, user, dbname),
    )
    return rows[0]["member"] if rows else None


def role_grant(name, group, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER,
               dbname=DEFAULT_DBNAME):
    """
    GRANT role GROUP to role NAME; True when done.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.role_grant prometheus pg_monitor
    """
    statement = sql.SQL("GRANT {} TO {}").format(sql.Identifier(group), sql.Identifier(name))
    with _connect(**_conn_args(host, port, user, dbname)) as conn:
        _run(conn, f"GRANT {group} TO {name}", statement)
    return True


# --- databases and extensions -------------------------------------------------


def database_get(
    name, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER, dbname=DEFAULT_DBNAME
):
    """
    ``{"owner", "encoding"}`` of a database, or None when it doesn't exist.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.database_get app
    """
    rows = _fetch(
        "database lookup",
        "SELECT pg_catalog.pg_get_userbyid(datdba) AS owner,"
        " pg_catalog.pg_encoding_to_char(encoding) AS encoding"
        " FROM pg_catalog.pg_database WHERE datname = %s",
        [name],
        _conn_args(host, port, user, dbname),
    )
    return rows[0] if rows else None


def database_create(
    name,
    owner,
    encoding="UTF8",
    template=None,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
    dbname=DEFAULT_DBNAME,
):
    """
    Create a database owned by ``owner``.

    Without ``template``, template1 is used when its encoding matches and
    template0 otherwise (PostgreSQL only lets template0 change encodings).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.database_create app app
    """
    with _connect(host, port, user, dbname) as conn:
        if template is None:
            rows = _run(
                conn,
                "template check",
                "SELECT encoding = pg_catalog.pg_char_to_encoding(%s) AS same"
                " FROM pg_catalog.pg_database WHERE datname = 'template1'",
                [encoding],
            )
            template = "template1" if rows and rows[0]["same"] else "template0"
        statement = sql.SQL("CREATE DATABASE {} OWNER {} ENCODING {} TEMPLATE {}").format(
            sql.Identifier(name),
            sql.Identifier(owner),
            sql.Literal(encoding),
            sql.Identifier(template),
        )
        _run(conn, f"CREATE DATABASE {name}", statement)
    return True


def database_alter_owner(
    name,
    owner,
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
    dbname=DEFAULT_DBNAME,
):
    """
    Give database ``name`` to role ``owner``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.database_alter_owner app app
    """
    statement = sql.SQL("ALTER DATABASE {} OWNER TO {}").format(
        sql.Identifier(name), sql.Identifier(owner)
    )
    with _connect(host, port, user, dbname) as conn:
        _run(conn, f"ALTER DATABASE {name}", statement)
    return True


def extension_get(name, dbname, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER):
    """
    ``{"name", "version", "schema"}`` of an installed extension, or None.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.extension_get pg_stat_statements app
    """
    rows = _fetch(
        "extension lookup",
        "SELECT e.extname AS name, e.extversion AS version, n.nspname AS schema"
        " FROM pg_catalog.pg_extension e"
        " JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace"
        " WHERE e.extname = %s",
        [name],
        _conn_args(host, port, user, dbname),
    )
    return rows[0] if rows else None


def extension_create(name, dbname, host=DEFAULT_HOST, port=DEFAULT_PORT, user=DEFAULT_USER):
    """
    CREATE EXTENSION IF NOT EXISTS in ``dbname``; True when done.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.extension_create pg_stat_statements app
    """
    with _connect(host, port, user, dbname) as conn:
        available = _run(
            conn,
            "extension check",
            "SELECT 1 FROM pg_catalog.pg_available_extensions WHERE name = %s",
            [name],
        )
        if not available:
            raise CommandExecutionError(
                f"extension {name} is not available on this server (package missing?)"
            )
        statement = sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(name))
        _run(conn, f"CREATE EXTENSION {name}", statement)
    return True


# --- PgBouncer auth function --------------------------------------------------


def _auth_function_statements(schema, auth_user, owner):
    """
    The statements behind auth_function_sql, each a psycopg Composed.

    CLI Example (internal):

    .. code-block:: python

        _auth_function_statements("pgbouncer", "pgbouncer_auth", "postgres")
    """
    nsp = sql.Identifier(schema)
    func = sql.SQL("{}.{}(text)").format(nsp, sql.Identifier(AUTH_FUNCTION))
    grantee = sql.Identifier(auth_user)
    owner_id = sql.Identifier(owner)
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {} AUTHORIZATION {}").format(nsp, owner_id),
        sql.SQL("ALTER SCHEMA {} OWNER TO {}").format(nsp, owner_id),
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {}.{}(p_usename text)"
            " RETURNS TABLE(usename name, passwd text)"
            " LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog"
            " AS {}"
        ).format(nsp, sql.Identifier(AUTH_FUNCTION), sql.Literal(AUTH_FUNCTION_BODY)),
        # SECURITY DEFINER runs as the owner, who must be able to read pg_shadow.
        sql.SQL("ALTER FUNCTION {} OWNER TO {}").format(func, owner_id),
        sql.SQL("REVOKE ALL ON FUNCTION {} FROM PUBLIC").format(func),
        sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(nsp, grantee),
        sql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(func, grantee),
    ]


def auth_function_sql(schema="pgbouncer", auth_user="pgbouncer_auth", owner="postgres"):
    """
    The SQL that creates PgBouncer's auth_query function ``<schema>.get_auth(text)``.

    The schema and the SECURITY DEFINER function belong to the superuser
    ``owner``; only ``auth_user`` may execute it.

    CLI Example:

    .. code-block:: bash

        salt-call pgsalt_sql.auth_function_sql auth_user=pgbouncer_auth
    """
    statements = _auth_function_statements(schema, auth_user, owner)
    return ";\n".join(statement.as_string() for statement in statements) + ";\n"


def auth_function_create(
    auth_user,
    dbname,
    schema="pgbouncer",
    owner="postgres",
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
):
    """
    Run auth_function_sql in ``dbname``, in one transaction; True when done.

    Also revokes EXECUTE from any other role granted it before, so only
    ``auth_user`` (and the owner) can read password hashes through it.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.auth_function_create pgbouncer_auth app
    """
    with _connect(host, port, user, dbname) as conn:
        with conn.transaction():
            for statement in _auth_function_statements(schema, auth_user, owner):
                _run(conn, "auth function setup", statement)
            # The function hands out password hashes: a role granted EXECUTE
            # earlier (a former auth_user, say) loses it.
            for grantee in _stray_grantees(conn, schema, {auth_user, owner}):
                _run(
                    conn,
                    "auth function revoke",
                    sql.SQL("REVOKE EXECUTE ON FUNCTION {}.{}(text) FROM {}").format(
                        sql.Identifier(schema),
                        sql.Identifier(AUTH_FUNCTION),
                        sql.Identifier(grantee),
                    ),
                )
    return True


def _stray_grantees(conn, schema, allowed):
    """
    Roles other than ``allowed`` (and PUBLIC) that may execute the auth function.

    CLI Example (internal):

    .. code-block:: python

        _stray_grantees(conn, "pgbouncer", {"pgbouncer_auth", "postgres"})  # ['old_auth']
    """
    rows = _run(
        conn,
        "auth function grants",
        "SELECT DISTINCT pg_catalog.pg_get_userbyid(a.grantee)::text AS grantee"
        " FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a"
        " WHERE p.oid = pg_catalog.to_regprocedure("
        "   pg_catalog.quote_ident(%s) || '.' || pg_catalog.quote_ident(%s) || '(text)')"
        " AND a.privilege_type = 'EXECUTE' AND a.grantee <> 0",
        [schema, AUTH_FUNCTION],
    )
    return sorted(row["grantee"] for row in rows if row["grantee"] not in allowed)


def _auth_function_problems(found, auth_user, owner):
    """
    What keeps an auth_function_get result from the wanted setup ([] when right).

    CLI Example (internal):

    .. code-block:: python

        _auth_function_problems(found, "pgbouncer_auth", "postgres")  # ['PUBLIC may execute it']
    """
    checks = [
        (found["owner"] == owner, f"owner is {found['owner']}, not {owner}"),
        (found["security_definer"], "not SECURITY DEFINER"),
        (list(found["config"]) == AUTH_FUNCTION_CONFIG, "search_path is not pg_catalog"),
        (found["source"] == AUTH_FUNCTION_BODY, "body differs"),
        ("PUBLIC" not in found["execute"], "PUBLIC may execute it"),
        (set(found["execute"]) <= {"PUBLIC", auth_user, owner}, "other roles may execute it"),
        (auth_user in found["execute"], f"{auth_user} may not execute it"),
        (auth_user in found["usage"], f"{auth_user} has no USAGE on schema {found['schema']}"),
    ]
    return [problem for ok, problem in checks if not ok]


def auth_function_get(
    dbname,
    schema="pgbouncer",
    auth_user=None,
    owner="postgres",
    host=DEFAULT_HOST,
    port=DEFAULT_PORT,
    user=DEFAULT_USER,
):
    """
    Describe ``<schema>.get_auth(text)`` in ``dbname``, or None when it doesn't exist.

    Returns ``{"schema", "owner", "security_definer", "config", "source",
    "execute": [roles], "usage": [roles]}``: ``execute`` lists who may run the
    function ("PUBLIC" included), ``usage`` who may use the schema. With
    ``auth_user``, a ``problems`` list says what differs from what
    auth_function_sql sets up for that user and ``owner`` ([] when right).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_sql.auth_function_get app auth_user=pgbouncer_auth
    """
    rows = _fetch(
        "auth function lookup",
        "SELECT n.nspname AS schema, pg_catalog.pg_get_userbyid(p.proowner) AS owner,"
        " p.prosecdef AS security_definer,"
        " coalesce(p.proconfig, '{}'::text[]) AS config, p.prosrc AS source,"
        " ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
        "              ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END"
        "       FROM pg_catalog.aclexplode(coalesce(p.proacl,"
        "            pg_catalog.acldefault('f', p.proowner))) a"
        "       WHERE a.privilege_type = 'EXECUTE' ORDER BY 1) AS execute,"
        " ARRAY(SELECT CASE WHEN a.grantee = 0 THEN 'PUBLIC'"
        "              ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END"
        "       FROM pg_catalog.aclexplode(coalesce(n.nspacl,"
        "            pg_catalog.acldefault('n', n.nspowner))) a"
        "       WHERE a.privilege_type = 'USAGE' ORDER BY 1) AS usage"
        " FROM pg_catalog.pg_proc p"
        " JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace"
        " WHERE p.oid = pg_catalog.to_regprocedure("
        "   pg_catalog.quote_ident(%s) || '.' || pg_catalog.quote_ident(%s) || '(text)')",
        [schema, AUTH_FUNCTION],
        _conn_args(host, port, user, dbname),
    )
    if not rows:
        return None
    found = rows[0]
    if auth_user is not None:
        found["problems"] = _auth_function_problems(found, auth_user, owner)
    return found
