"""Unit tests for the pgsalt_sql execution and state modules; no server needed."""

import contextlib
import json
import pathlib
from types import SimpleNamespace
from unittest.mock import MagicMock, patch

import pgsalt_states
import psycopg
import pytest
from loaders import load
from salt.exceptions import CommandExecutionError

UTILS = {"pgsalt_states.unavailable": pgsalt_states.unavailable}

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]




sql_mod = load("pgsalt_sql_module", "_modules/pgsalt_sql.py")
sql_state = load("pgsalt_sql_state", "_states/pgsalt_sql.py")

# Verifiers written by a real PostgreSQL 15.18 for these passwords (ALTER ROLE
# ... PASSWORD with password_encryption=scram-sha-256); the second one takes
# the SASLprep path (no-break space, ligature, soft hyphen).
VECTORS = [
    (
        "pencil",
        "SCRAM-SHA-256$4096:KJ8YSyDLWAZsw4AEIWkHkg==$x01KtR52Gq8DI94yCpA/OekWhviAZksPXX/CEFsakGk="
        ":AHZZHlh8ZXJMpNgKt5ZySLHV6S1/PL8/sFbLKZ/IZ0M=",
    ),
    (
        "Ångström\u00a0ﬁ\u00ad9",
        "SCRAM-SHA-256$4096:hpzKIVvmuvmEiJ53Iot91Q==$nP+n6oz8JhXO7dS92EriC5Yp7976StQrmbCUNt5RKTg="
        ":kgMMVodcIYH7xHTeZFhqtC+0rwxPgXVXvodk79i3ed0=",
    ),
]
PASSWORD = "Sekret-Marker-3x9"
MD5 = "md5" + "0" * 32


def _salt_of(verifier):
    return verifier.split("$")[1].split(":")[1]


# --- module: SCRAM ----------------------------------------------------------


@pytest.mark.parametrize(("password", "expected"), VECTORS)
def test_scram_verifier_matches_postgresql(password, expected):
    assert sql_mod.scram_verifier(password, salt=_salt_of(expected)) == expected


def test_scram_verifier_accepts_raw_salt_bytes():
    password, expected = VECTORS[0]
    raw = sql_mod.base64.b64decode(_salt_of(expected))
    assert sql_mod.scram_verifier(password, salt=raw) == expected


def test_scram_verifier_random_salt_and_iterations():
    first = sql_mod.scram_verifier(PASSWORD, iterations=10000)
    second = sql_mod.scram_verifier(PASSWORD, iterations=10000)
    assert first != second
    assert sql_mod.is_scram_verifier(first)
    assert first.startswith("SCRAM-SHA-256$10000:")
    assert len(sql_mod.base64.b64decode(_salt_of(first))) == 16
    assert PASSWORD not in first


@pytest.mark.parametrize("empty", [None, ""])
def test_scram_verifier_refuses_empty(empty):
    with pytest.raises(CommandExecutionError):
        sql_mod.scram_verifier(empty)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("plain ascii\x01", "plain ascii\x01"),  # ASCII is never touched
        ("soft\u00adhyphen", "softhyphen"),  # mapped to nothing
        ("nb\u00a0space", "nb space"),  # non-ASCII space -> space
        ("ﬁ\u2168", "fiIX"),  # NFKC
        ("pua\ue000é", "pua\ue000é"),  # prohibited: used unchanged
        ("a\u0627b", "a\u0627b"),  # RandAL next to L: used unchanged
        ("\u00ad", "\u00ad"),  # nothing left: used unchanged
    ],
)
def test_saslprep(given, expected):
    assert sql_mod._saslprep(given) == expected


@pytest.mark.parametrize(("password", "stored"), VECTORS)
def test_password_matches(password, stored):
    with patch.object(sql_mod, "_fetch", return_value=[{"rolpassword": stored}]) as fetch:
        assert sql_mod.password_matches("app", password) is True
        assert sql_mod.password_matches("app", password + "x") is False
    assert fetch.call_args.args[2] == ["app"]


@pytest.mark.parametrize("stored", [MD5, None, "plaintext", "SCRAM-SHA-256$broken"])
def test_password_matches_non_scram_is_false(stored):
    with patch.object(sql_mod, "_fetch", return_value=[{"rolpassword": stored}]):
        assert sql_mod.password_matches("app", "plaintext") is False


def test_password_matches_missing_role():
    with patch.object(sql_mod, "_fetch", return_value=[]):
        assert sql_mod.password_matches("ghost", "x") is False


def test_password_matches_given_verifier():
    stored = VECTORS[0][1]
    with patch.object(sql_mod, "_fetch", return_value=[{"rolpassword": stored}]):
        assert sql_mod.password_matches("app", stored) is True
        assert sql_mod.password_matches("app", VECTORS[1][1]) is False


# --- module: statements -----------------------------------------------------


@pytest.fixture
def ran():
    """Patch the connection layer; collect (what, statement text, params, secret)."""
    calls = []

    def fake_run(conn, what, statement, params=None, secret=None):
        text = statement if isinstance(statement, str) else statement.as_string()
        calls.append(SimpleNamespace(what=what, text=text, params=params, secret=secret))
        return conn.rows.pop(0) if conn.rows else []

    conn = SimpleNamespace(rows=[], transaction=contextlib.nullcontext)

    @contextlib.contextmanager
    def fake_connect(*args, **kwargs):
        calls.append(SimpleNamespace(what="connect", args=args, kwargs=kwargs))
        yield conn

    with patch.object(sql_mod, "_run", fake_run), patch.object(sql_mod, "_connect", fake_connect):
        yield SimpleNamespace(calls=calls, conn=conn)


def _statements(ran):
    return [c for c in ran.calls if c.what != "connect"]


def test_role_create_sends_only_a_verifier(ran):
    sql_mod.role_create(
        "app", password=PASSWORD, login=True, createdb=False, connection_limit=5, __pub_fun="x"
    )
    (call,) = _statements(ran)
    assert call.text.startswith('CREATE ROLE "app" WITH LOGIN NOCREATEDB CONNECTION LIMIT 5')
    assert "PASSWORD 'SCRAM-SHA-256$4096:" in call.text
    assert PASSWORD not in call.text
    assert call.secret and call.secret in call.text


def test_role_create_without_options(ran):
    sql_mod.role_create("reader")
    assert [c.text for c in _statements(ran)] == ['CREATE ROLE "reader"']


def test_role_create_keeps_given_verifier(ran):
    verifier = VECTORS[0][1]
    sql_mod.role_create("app", password=verifier)
    assert f"PASSWORD '{verifier}'" in _statements(ran)[0].text


def test_role_alter(ran):
    sql_mod.role_alter("app", password=PASSWORD, superuser="false", replication=True)
    (call,) = _statements(ran)
    assert call.text.startswith('ALTER ROLE "app" WITH NOSUPERUSER REPLICATION PASSWORD')
    assert PASSWORD not in call.text


def test_role_alter_nothing_to_do(ran):
    assert sql_mod.role_alter("app", __pub_jid="1") is True
    assert ran.calls == []


def test_role_unknown_attribute(ran):
    with pytest.raises(CommandExecutionError, match="unknown role attribute"):
        sql_mod.role_create("app", inherit=True)


def test_role_empty_password(ran):
    with pytest.raises(CommandExecutionError, match="empty password"):
        sql_mod.role_alter("app", password="")


def test_role_name_is_quoted(ran):
    sql_mod.role_create('we"ird; DROP TABLE x')
    assert _statements(ran)[0].text == 'CREATE ROLE "we""ird; DROP TABLE x"'


def test_role_member_of_and_grant(ran):
    ran.conn.rows = [[{"member": True}], [], [{"member": False}]]
    assert sql_mod.role_member_of("prometheus", "pg_monitor") is True
    # either role missing: no row
    assert sql_mod.role_member_of("ghost", "pg_monitor") is None
    assert sql_mod.role_member_of("prometheus", "pg_monitor") is False
    lookups = _statements(ran)
    assert [c.params for c in lookups] == [["prometheus", "pg_monitor"], ["ghost", "pg_monitor"],
                                           ["prometheus", "pg_monitor"]]
    # membership through another role counts, as PostgreSQL grants it
    assert "pg_has_role(" in lookups[0].text and "'MEMBER'" in lookups[0].text
    assert sql_mod.role_grant('we"ird', "pg_monitor") is True
    assert _statements(ran)[-1].text == 'GRANT "pg_monitor" TO "we""ird"'


def test_database_create_same_encoding_uses_template1(ran):
    ran.conn.rows = [[{"same": True}]]
    sql_mod.database_create("app", "app")
    assert _statements(ran)[1].text == (
        'CREATE DATABASE "app" OWNER "app" ENCODING \'UTF8\' TEMPLATE "template1"'
    )


def test_database_create_other_encoding_uses_template0(ran):
    ran.conn.rows = [[{"same": False}]]
    sql_mod.database_create("legacy", "app", encoding="LATIN1")
    assert _statements(ran)[1].text.endswith("ENCODING 'LATIN1' TEMPLATE \"template0\"")


def test_database_alter_owner(ran):
    sql_mod.database_alter_owner("app", "owner2")
    assert _statements(ran)[0].text == 'ALTER DATABASE "app" OWNER TO "owner2"'


def test_extension_create(ran):
    ran.conn.rows = [[{"?column?": 1}]]
    sql_mod.extension_create("pg_stat_statements", "app")
    assert ran.calls[0].kwargs == {} and ran.calls[0].args[3] == "app"
    assert _statements(ran)[1].text == 'CREATE EXTENSION IF NOT EXISTS "pg_stat_statements"'


def test_extension_create_unavailable(ran):
    with pytest.raises(CommandExecutionError, match="not available"):
        sql_mod.extension_create("nope", "app")


def test_auth_function_sql():
    text = sql_mod.auth_function_sql(auth_user="pgbouncer_auth")
    assert text.splitlines() == [
        'CREATE SCHEMA IF NOT EXISTS "pgbouncer" AUTHORIZATION "postgres";',
        'ALTER SCHEMA "pgbouncer" OWNER TO "postgres";',
        'CREATE OR REPLACE FUNCTION "pgbouncer"."get_auth"(p_usename text)'
        " RETURNS TABLE(usename name, passwd text)"
        " LANGUAGE sql SECURITY DEFINER SET search_path = pg_catalog"
        " AS 'SELECT usename, passwd FROM pg_catalog.pg_shadow WHERE usename = p_usename';",
        'ALTER FUNCTION "pgbouncer"."get_auth"(text) OWNER TO "postgres";',
        'REVOKE ALL ON FUNCTION "pgbouncer"."get_auth"(text) FROM PUBLIC;',
        'GRANT USAGE ON SCHEMA "pgbouncer" TO "pgbouncer_auth";',
        'GRANT EXECUTE ON FUNCTION "pgbouncer"."get_auth"(text) TO "pgbouncer_auth";',
    ]


def test_auth_function_create_revokes_stray_grants(ran):
    ran.conn.rows = [[]] * 7 + [[{"grantee": "old_auth"}, {"grantee": "pgbouncer_auth"}]]
    sql_mod.auth_function_create("pgbouncer_auth", "app")
    texts = [c.text for c in _statements(ran)]
    assert len(texts) == 9
    assert texts[-1] == 'REVOKE EXECUTE ON FUNCTION "pgbouncer"."get_auth"(text) FROM "old_auth"'


GOOD_AUTH = {
    "schema": "pgbouncer",
    "owner": "postgres",
    "security_definer": True,
    "config": ["search_path=pg_catalog"],
    "source": sql_mod.AUTH_FUNCTION_BODY,
    "execute": ["pgbouncer_auth", "postgres"],
    "usage": ["pgbouncer_auth", "postgres"],
}


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({}, None),
        ({"owner": "app"}, "owner is app, not postgres"),
        ({"security_definer": False}, "not SECURITY DEFINER"),
        ({"config": []}, "search_path is not pg_catalog"),
        ({"source": "SELECT 1"}, "body differs"),
        ({"execute": ["PUBLIC", "pgbouncer_auth", "postgres"]}, "PUBLIC may execute it"),
        ({"execute": ["other", "pgbouncer_auth", "postgres"]}, "other roles may execute it"),
        ({"execute": ["postgres"]}, "pgbouncer_auth may not execute it"),
        ({"usage": ["postgres"]}, "pgbouncer_auth has no USAGE on schema pgbouncer"),
    ],
)
def test_auth_function_get_problems(change, problem):
    row = {**GOOD_AUTH, **change}
    with patch.object(sql_mod, "_fetch", return_value=[dict(row)]):
        found = sql_mod.auth_function_get("app", auth_user="pgbouncer_auth")
    assert found["problems"] == ([problem] if problem else [])


def test_auth_function_get_missing():
    with patch.object(sql_mod, "_fetch", return_value=[]):
        assert sql_mod.auth_function_get("app", auth_user="pgbouncer_auth") is None


# --- module: plumbing -------------------------------------------------------


def test_virtual_reports_missing_psycopg():
    with patch.object(sql_mod, "IMPORT_ERROR", "psycopg (3) is not installed (x)"):
        ok, reason = sql_mod.__virtual__()
    assert ok is False and "psycopg" in reason
    assert sql_mod.__virtual__() == "pgsalt_sql"


def test_is_primary():
    with patch.object(sql_mod, "_fetch", return_value=[{"primary": False}]) as fetch:
        assert sql_mod.is_primary(port=5433) is False
    assert "pg_is_in_recovery" in fetch.call_args.args[1]
    assert fetch.call_args.kwargs["conn_args"]["port"] == 5433


def test_query_returns_plain_values():
    row = {"n": sql_mod.decimal.Decimal("1.5"), "b": b"\x01", "l": [1], "s": "x", "z": None}
    with patch.object(sql_mod, "_fetch", return_value=[row]) as fetch:
        rows = sql_mod.query("SELECT %s", [1], dbname="app")
    assert rows == [{"n": "1.5", "b": "01", "l": [1], "s": "x", "z": None}]
    assert fetch.call_args.args[3]["dbname"] == "app"


def test_connect_uses_socket_defaults():
    with patch.object(sql_mod.psycopg, "connect") as connect:
        with sql_mod._connect() as conn:
            assert conn is connect.return_value
    kwargs = connect.call_args.kwargs
    assert kwargs["host"] == "/var/run/postgresql" and kwargs["port"] == 5432
    assert kwargs["user"] == "postgres" and kwargs["dbname"] == "postgres"
    assert kwargs["autocommit"] is True and "password" not in kwargs
    connect.return_value.close.assert_called_once()


def test_connect_failure_is_clear():
    boom = psycopg.OperationalError("connection failed: No such file or directory")
    with patch.object(sql_mod.psycopg, "connect", side_effect=boom):
        with pytest.raises(CommandExecutionError, match="cannot connect to PostgreSQL"):
            with sql_mod._connect():
                pass


def test_run_error_hides_statement_and_secret():
    verifier = VECTORS[0][1]
    error = psycopg.errors.SyntaxError(f"syntax error\nLINE 1: ALTER ROLE x PASSWORD '{verifier}'")
    cursor = MagicMock()
    cursor.__enter__.return_value.execute.side_effect = error
    conn = MagicMock()
    conn.cursor.return_value = cursor
    with pytest.raises(CommandExecutionError) as err:
        sql_mod._run(conn, "ALTER ROLE x", "ALTER ROLE ...", secret=verifier)
    assert verifier not in str(err.value) and "LINE 1" not in str(err.value)
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_error_text_prefers_primary_message():
    exc = SimpleNamespace(
        diag=SimpleNamespace(message_primary='role "app" already exists'), sqlstate="42710"
    )
    assert sql_mod._error_text(exc) == 'role "app" already exists (42710)'


# --- states -----------------------------------------------------------------


@pytest.fixture
def salt_mock():
    return {
        "pgsalt_sql.is_primary": MagicMock(return_value=True),
        "pgsalt_sql.role_get": MagicMock(return_value=None),
        "pgsalt_sql.password_matches": MagicMock(return_value=False),
        "pgsalt_sql.role_create": MagicMock(return_value=True),
        "pgsalt_sql.role_alter": MagicMock(return_value=True),
        "pgsalt_sql.database_get": MagicMock(return_value=None),
        "pgsalt_sql.database_create": MagicMock(return_value=True),
        "pgsalt_sql.database_alter_owner": MagicMock(return_value=True),
        "pgsalt_sql.extension_get": MagicMock(return_value=None),
        "pgsalt_sql.extension_create": MagicMock(return_value=True),
        "pgsalt_sql.auth_function_get": MagicMock(return_value=None),
        "pgsalt_sql.auth_function_create": MagicMock(return_value=True),
        "pgsalt_sql.role_member_of": MagicMock(return_value=False),
        "pgsalt_sql.role_grant": MagicMock(return_value=True),
    }


@pytest.fixture
def configure_loader_modules(salt_mock):
    return {
        sql_mod: {"__opts__": {}},
        sql_state: {"__salt__": salt_mock, "__opts__": {"test": False}, "__utils__": UTILS},
    }


@pytest.fixture(params=["test", "real"])
def mode(request):
    with patch.dict(sql_state.__opts__, {"test": request.param == "test"}):
        yield request.param


def _no_password(ret):
    assert PASSWORD not in json.dumps(ret, default=str)
    return ret


ROLE = {
    "login": True,
    "superuser": False,
    "createdb": False,
    "createrole": False,
    "replication": False,
    "connection_limit": -1,
}

ALL_STATES = [
    lambda: sql_state.role_present("app", password=PASSWORD),
    lambda: sql_state.database_present("app", owner="app"),
    lambda: sql_state.extension_present("pg_stat_statements", dbname="app"),
    lambda: sql_state.auth_function_present(
        "pgbouncer.get_auth", auth_user="pgbouncer_auth", dbname="app"
    ),
    lambda: sql_state.role_member("prometheus", group="pg_monitor"),
]


@pytest.mark.parametrize("run", ALL_STATES)
def test_states_skip_on_replica(salt_mock, mode, run):
    salt_mock["pgsalt_sql.is_primary"].return_value = False
    ret = _no_password(run())
    assert ret["result"] is True and ret["changes"] == {}
    assert ret["comment"] == "not the primary; SQL objects are managed on the leader"
    for name, func in salt_mock.items():
        if name != "pgsalt_sql.is_primary":
            func.assert_not_called()


@pytest.mark.parametrize("run", ALL_STATES)
def test_states_fail_when_unreachable(salt_mock, mode, run):
    salt_mock["pgsalt_sql.is_primary"].side_effect = CommandExecutionError(
        "cannot connect to PostgreSQL at /var/run/postgresql:5432 as postgres"
    )
    ret = _no_password(run())
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"].startswith("PostgreSQL is not reachable: cannot connect")


def test_states_pass_connection_overrides(salt_mock):
    sql_state.role_present("app", db_host="/tmp/sock", db_port=5433, db_user="admin")
    salt_mock["pgsalt_sql.is_primary"].assert_called_once_with(
        host="/tmp/sock", port=5433, user="admin"
    )
    salt_mock["pgsalt_sql.role_get"].assert_any_call(
        "app", host="/tmp/sock", port=5433, user="admin"
    )


# role_present


def test_role_present_create(salt_mock, mode):
    salt_mock["pgsalt_sql.role_get"].side_effect = [None, dict(ROLE, createdb=True)]
    salt_mock["pgsalt_sql.password_matches"].return_value = True  # the re-check
    ret = _no_password(sql_state.role_present("app", password=PASSWORD, createdb=True))
    new = dict(ROLE, createdb=True, password="changed")
    assert ret["changes"] == {"old": None, "new": new}
    if mode == "test":
        assert ret["result"] is None and "would be created" in ret["comment"]
        salt_mock["pgsalt_sql.role_create"].assert_not_called()
    else:
        assert ret["result"] is True and ret["comment"] == "role app created with a password"
        salt_mock["pgsalt_sql.role_create"].assert_called_once_with(
            "app", password=PASSWORD, **dict(ROLE, createdb=True)
        )


def test_role_present_in_desired_state(salt_mock, mode):
    salt_mock["pgsalt_sql.role_get"].return_value = dict(ROLE)
    salt_mock["pgsalt_sql.password_matches"].return_value = True
    ret = _no_password(sql_state.role_present("app", password=PASSWORD))
    assert ret["result"] is True and ret["changes"] == {}
    salt_mock["pgsalt_sql.role_alter"].assert_not_called()


def test_role_present_password_and_attribute_change(salt_mock, mode):
    salt_mock["pgsalt_sql.role_get"].side_effect = [
        dict(ROLE),
        dict(ROLE, connection_limit=20),
    ]
    salt_mock["pgsalt_sql.password_matches"].side_effect = [False, True]
    ret = _no_password(sql_state.role_present("app", password=PASSWORD, connection_limit=20))
    assert ret["changes"] == {
        "old": {"connection_limit": -1},
        "new": {"connection_limit": 20, "password": "changed"},
    }
    if mode == "test":
        assert ret["result"] is None
        salt_mock["pgsalt_sql.role_alter"].assert_not_called()
    else:
        assert ret["result"] is True and ret["comment"] == "role app updated (password changed)"
        salt_mock["pgsalt_sql.role_alter"].assert_called_once_with(
            "app", password=PASSWORD, connection_limit=20
        )


def test_role_present_attribute_only_keeps_password(salt_mock, mode):
    salt_mock["pgsalt_sql.role_get"].side_effect = [dict(ROLE), dict(ROLE, replication=True)]
    ret = sql_state.role_present("repl", replication=True)
    assert ret["changes"] == {"old": {"replication": False}, "new": {"replication": True}}
    salt_mock["pgsalt_sql.password_matches"].assert_not_called()
    if mode == "real":
        assert ret["result"] is True
        salt_mock["pgsalt_sql.role_alter"].assert_called_once_with(
            "repl", password=None, replication=True
        )


def test_role_present_recheck_failure(salt_mock):
    salt_mock["pgsalt_sql.role_get"].side_effect = [dict(ROLE), dict(ROLE)]
    salt_mock["pgsalt_sql.password_matches"].return_value = False
    ret = _no_password(sql_state.role_present("app", password=PASSWORD))
    assert ret["result"] is False
    assert ret["comment"] == "role app still differs in: password"
    assert ret["changes"] == {"old": {}, "new": {"password": "changed"}}


def test_role_present_error_never_shows_password(salt_mock):
    salt_mock["pgsalt_sql.role_get"].return_value = dict(ROLE)
    salt_mock["pgsalt_sql.role_alter"].side_effect = CommandExecutionError(
        f"ALTER ROLE app failed: something about {PASSWORD}"
    )
    ret = _no_password(sql_state.role_present("app", password=PASSWORD))
    assert ret["result"] is False and "<redacted>" in ret["comment"]


def test_role_present_empty_password(salt_mock):
    ret = sql_state.role_present("app", password="")
    assert ret["result"] is False
    salt_mock["pgsalt_sql.is_primary"].assert_not_called()


# database_present


def test_database_present_create(salt_mock, mode):
    salt_mock["pgsalt_sql.database_get"].side_effect = [None, {"owner": "app", "encoding": "UTF8"}]
    ret = sql_state.database_present("app", owner="app")
    assert ret["changes"] == {"old": None, "new": {"owner": "app", "encoding": "UTF8"}}
    if mode == "test":
        assert ret["result"] is None
        salt_mock["pgsalt_sql.database_create"].assert_not_called()
    else:
        assert ret["result"] is True and ret["comment"] == "database app created"
        salt_mock["pgsalt_sql.database_create"].assert_called_once_with(
            "app", "app", encoding="UTF8"
        )


def test_database_present_owner_change(salt_mock, mode):
    salt_mock["pgsalt_sql.database_get"].side_effect = [
        {"owner": "postgres", "encoding": "UTF8"},
        {"owner": "app", "encoding": "UTF8"},
    ]
    ret = sql_state.database_present("app", owner="app", encoding="utf-8")
    assert ret["changes"] == {"old": {"owner": "postgres"}, "new": {"owner": "app"}}
    if mode == "test":
        assert ret["result"] is None
        salt_mock["pgsalt_sql.database_alter_owner"].assert_not_called()
    else:
        assert ret["result"] is True
        salt_mock["pgsalt_sql.database_alter_owner"].assert_called_once_with("app", "app")


def test_database_present_in_desired_state(salt_mock, mode):
    salt_mock["pgsalt_sql.database_get"].return_value = {"owner": "app", "encoding": "UTF8"}
    ret = sql_state.database_present("app", owner="app")
    assert ret["result"] is True and ret["changes"] == {}


def test_database_present_encoding_mismatch(salt_mock, mode):
    salt_mock["pgsalt_sql.database_get"].return_value = {"owner": "app", "encoding": "LATIN1"}
    ret = sql_state.database_present("app", owner="app")
    assert ret["result"] is False and "can't be changed" in ret["comment"]
    salt_mock["pgsalt_sql.database_create"].assert_not_called()


def test_database_present_create_error(salt_mock):
    salt_mock["pgsalt_sql.database_create"].side_effect = CommandExecutionError(
        'CREATE DATABASE app failed: role "app" does not exist (42704)'
    )
    ret = sql_state.database_present("app", owner="app")
    assert ret["result"] is False and "does not exist" in ret["comment"]
    assert ret["changes"] == {}


# extension_present


def test_extension_present_create(salt_mock, mode):
    installed = {"name": "pg_stat_statements", "version": "1.10", "schema": "public"}
    salt_mock["pgsalt_sql.extension_get"].side_effect = [None, installed]
    ret = sql_state.extension_present("pg_stat_statements", dbname="app")
    if mode == "test":
        assert ret["result"] is None
        assert ret["changes"] == {
            "old": None,
            "new": {"name": "pg_stat_statements", "dbname": "app"},
        }
        salt_mock["pgsalt_sql.extension_create"].assert_not_called()
    else:
        assert ret["result"] is True
        assert ret["changes"] == {"old": None, "new": {**installed, "dbname": "app"}}
        salt_mock["pgsalt_sql.extension_create"].assert_called_once_with(
            "pg_stat_statements", "app"
        )


def test_extension_present_already(salt_mock, mode):
    salt_mock["pgsalt_sql.extension_get"].return_value = {"name": "x", "version": "1"}
    ret = sql_state.extension_present("x", dbname="app")
    assert ret["result"] is True and ret["changes"] == {}


def test_extension_present_failure(salt_mock):
    salt_mock["pgsalt_sql.extension_create"].side_effect = CommandExecutionError(
        "extension nope is not available on this server (package missing?)"
    )
    ret = sql_state.extension_present("nope", dbname="app")
    assert ret["result"] is False and "not available" in ret["comment"]


# auth_function_present


def _auth(**change):
    return {**GOOD_AUTH, "problems": [], **change}


def test_auth_function_present_create(salt_mock, mode):
    salt_mock["pgsalt_sql.auth_function_get"].side_effect = [None, _auth()]
    ret = sql_state.auth_function_present(
        "pgbouncer.get_auth", auth_user="pgbouncer_auth", dbname="app"
    )
    if mode == "test":
        assert ret["result"] is None
        assert ret["changes"] == {
            "old": None,
            "new": {
                "function": "pgbouncer.get_auth(text)",
                "owner": "postgres",
                "auth_user": "pgbouncer_auth",
            },
        }
        salt_mock["pgsalt_sql.auth_function_create"].assert_not_called()
    else:
        assert ret["result"] is True
        assert ret["changes"]["old"] is None
        assert ret["changes"]["new"]["execute"] == ["pgbouncer_auth", "postgres"]
        salt_mock["pgsalt_sql.auth_function_create"].assert_called_once_with(
            "pgbouncer_auth", "app", schema="pgbouncer", owner="postgres"
        )
    salt_mock["pgsalt_sql.auth_function_get"].assert_any_call(
        "app", schema="pgbouncer", auth_user="pgbouncer_auth", owner="postgres"
    )


def test_auth_function_present_fix_grant(salt_mock, mode):
    broken = _auth(
        execute=["PUBLIC", "pgbouncer_auth", "postgres"], problems=["PUBLIC may execute it"]
    )
    salt_mock["pgsalt_sql.auth_function_get"].side_effect = [broken, _auth()]
    ret = sql_state.auth_function_present(
        "pgbouncer.get_auth", auth_user="pgbouncer_auth", dbname="app"
    )
    if mode == "test":
        assert ret["result"] is None
        assert ret["changes"]["old"] == {"problems": ["PUBLIC may execute it"]}
    else:
        assert ret["result"] is True
        assert ret["changes"] == {
            "old": {"execute": ["PUBLIC", "pgbouncer_auth", "postgres"]},
            "new": {"execute": ["pgbouncer_auth", "postgres"]},
        }


def test_auth_function_present_in_place(salt_mock, mode):
    salt_mock["pgsalt_sql.auth_function_get"].return_value = _auth()
    ret = sql_state.auth_function_present(
        "pgbouncer.get_auth", auth_user="pgbouncer_auth", dbname="app"
    )
    assert ret["result"] is True and ret["changes"] == {}
    salt_mock["pgsalt_sql.auth_function_create"].assert_not_called()


def test_auth_function_present_still_wrong(salt_mock):
    salt_mock["pgsalt_sql.auth_function_get"].side_effect = [
        None,
        _auth(problems=["body differs"]),
    ]
    ret = sql_state.auth_function_present(
        "pgbouncer.get_auth", auth_user="pgbouncer_auth", dbname="app"
    )
    assert ret["result"] is False and "body differs" in ret["comment"]


# role_member

MEMBERSHIP = {"old": {"member_of": None}, "new": {"member_of": "pg_monitor"}}


def test_role_member_already(salt_mock, mode):
    salt_mock["pgsalt_sql.role_member_of"].return_value = True
    ret = sql_state.role_member("prometheus", group="pg_monitor")
    assert (ret["result"], ret["changes"]) == (True, {})
    salt_mock["pgsalt_sql.role_grant"].assert_not_called()


def test_role_member_grants_and_checks_again(salt_mock, mode):
    member_of = salt_mock["pgsalt_sql.role_member_of"]
    member_of.side_effect = [False, True]
    ret = sql_state.role_member("prometheus", group="pg_monitor", db_port=5433)
    assert ret["changes"] == MEMBERSHIP
    if mode == "test":
        assert ret["result"] is None and "would be made a member" in ret["comment"]
        salt_mock["pgsalt_sql.role_grant"].assert_not_called()
        assert member_of.call_count == 1
    else:
        assert ret["result"] is True
        assert ret["comment"] == "role prometheus made a member of pg_monitor"
        grant = salt_mock["pgsalt_sql.role_grant"]
        grant.assert_called_once()
        assert grant.call_args.args == ("prometheus", "pg_monitor")
        # the check after the grant asks the same server as the grant
        assert member_of.call_count == 2
        assert member_of.call_args.kwargs == grant.call_args.kwargs
        assert grant.call_args.kwargs["port"] == 5433


def test_role_member_grant_that_does_not_take(salt_mock):
    salt_mock["pgsalt_sql.role_member_of"].side_effect = [False, False]
    ret = sql_state.role_member("prometheus", group="pg_monitor")
    assert ret["result"] is False and ret["changes"] == {}
    assert ret["comment"] == "role prometheus is still not a member of pg_monitor"
    salt_mock["pgsalt_sql.role_grant"].assert_called_once()


def test_role_member_of_a_missing_role(salt_mock, mode):
    salt_mock["pgsalt_sql.role_member_of"].return_value = None
    ret = sql_state.role_member("prometheus", group="pg_monitor")
    salt_mock["pgsalt_sql.role_grant"].assert_not_called()
    if mode == "test":
        # role_present earlier in the same run would create it: a prediction, not a failure
        assert ret["result"] is None and ret["changes"] == MEMBERSHIP
    else:
        assert ret["result"] is False and ret["changes"] == {}
        assert ret["comment"] == "role prometheus or pg_monitor does not exist"


def test_role_member_grant_error(salt_mock):
    salt_mock["pgsalt_sql.role_grant"].side_effect = CommandExecutionError(
        'GRANT pg_monitor TO prometheus failed: permission denied (42501)'
    )
    ret = sql_state.role_member("prometheus", group="pg_monitor")
    assert ret["result"] is False and ret["changes"] == {}
    assert "permission denied" in ret["comment"]
