"""Unit tests for the pgsalt_backrest execution and state modules, on a fake ``pgbackrest``."""

import copy
import json
from unittest.mock import patch

import pgsalt_states
import pytest
from loaders import FakeClock, load
from loaders import run_result as result
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

backrest_mod = load("pgsalt_backrest_module", "_modules/pgsalt_backrest.py")
backrest_state = load("pgsalt_backrest_state", "_states/pgsalt_backrest.py")

UTILS = {"pgsalt_states.unavailable": pgsalt_states.unavailable}

# `pgbackrest info --stanza=main --output=json` (2.55) for a stanza upgraded from
# PostgreSQL 15 to 16, with a full, a diff and an incr backup, oldest first.
INFO_JSON = """
[
  {
    "archive": [
      {"database": {"id": 1, "repo-key": 1}, "id": "15-1",
       "max": "000000010000000000000009", "min": "000000010000000000000003"},
      {"database": {"id": 2, "repo-key": 1}, "id": "16-2",
       "max": "00000002000000000000001A", "min": "000000020000000000000011"}
    ],
    "backup": [
      {
        "archive": {"start": "000000020000000000000012", "stop": "000000020000000000000012"},
        "backrest": {"format": 5, "version": "2.55.1"},
        "database": {"id": 2, "repo-key": 1},
        "error": false,
        "info": {"delta": 31457280, "repository": {"delta": 4194304, "size": 4194304},
                 "size": 31457280},
        "label": "20250601-010000F",
        "lsn": {"start": "0/12000028", "stop": "0/12000138"},
        "prior": null,
        "reference": null,
        "timestamp": {"start": 1748739600, "stop": 1748739725},
        "type": "full"
      },
      {
        "archive": {"start": "000000020000000000000016", "stop": "000000020000000000000016"},
        "backrest": {"format": 5, "version": "2.55.1"},
        "database": {"id": 2, "repo-key": 1},
        "error": false,
        "info": {"delta": 1048576, "repository": {"delta": 131072, "size": 4325376},
                 "size": 31981568},
        "label": "20250601-010000F_20250602-010000D",
        "lsn": {"start": "0/16000028", "stop": "0/16000100"},
        "prior": "20250601-010000F",
        "reference": ["20250601-010000F"],
        "timestamp": {"start": 1748826000, "stop": 1748826041},
        "type": "diff"
      },
      {
        "archive": {"start": "000000020000000000000019", "stop": "000000020000000000000019"},
        "backrest": {"format": 5, "version": "2.55.1"},
        "database": {"id": 2, "repo-key": 1},
        "error": false,
        "info": {"delta": 262144, "repository": {"delta": 32768, "size": 4358144},
                 "size": 32014336},
        "label": "20250601-010000F_20250602-020000I",
        "lsn": {"start": "0/19000028", "stop": "0/19000100"},
        "prior": "20250601-010000F_20250602-010000D",
        "reference": ["20250601-010000F", "20250601-010000F_20250602-010000D"],
        "timestamp": {"start": 1748829600, "stop": 1748829612},
        "type": "incr"
      }
    ],
    "cipher": "aes-256-cbc",
    "db": [
      {"id": 1, "repo-key": 1, "system-id": 7380000000000000001, "version": "15"},
      {"id": 2, "repo-key": 1, "system-id": 7390000000000000002, "version": "16"}
    ],
    "name": "main",
    "repo": [{"cipher": "aes-256-cbc", "key": 1, "status": {"code": 0, "message": "ok"}}],
    "status": {"code": 0, "lock": {"backup": {"held": false}}, "message": "ok"}
  }
]
"""
NOW = 1748833212  # an hour after the incr backup stopped

CHECK_ERROR = (
    "ERROR: [082]: WAL segment 00000002000000000000001B was not archived before the 60000ms"
    " timeout\n"
    "       HINT: check the archive_command to ensure that all options are correct"
    " (especially --stanza).\n"
    "       HINT: check the PostgreSQL server log for errors.\n"
)


def stanza_json(code=0):
    """The stanza dict of INFO_JSON, or as pgBackRest reports a stanza with CODE 1, 2 or 3."""
    stanza = json.loads(INFO_JSON)[0]
    if code == 0:
        return stanza
    message = {1: "missing stanza path", 2: "no valid backups", 3: "missing stanza data"}[code]
    stanza.update(archive=[], backup=[], status={"code": code, "message": message})
    stanza["repo"][0]["status"] = {"code": code, "message": message}
    if code != 2:
        stanza["db"] = []
    return stanza



class FakeBackRest:
    """Stands in for cmd.run_all: one stanza on a pgbackrest 2.55, recording every call."""

    def __init__(self, stanza=None, pg="16", check_failures=0):
        self.stanza = stanza if stanza is not None else stanza_json()
        self.pg = pg  # the major version of the running PostgreSQL
        self.check_failures = check_failures
        self.calls = []

    @property
    def commands(self):
        return [argv[1] for argv, _ in self.calls]

    def __call__(self, argv, **kwargs):
        self.calls.append((list(argv), kwargs))
        return getattr(self, "_" + argv[1].replace("-", "_"))(argv)

    def _set_status(self, code, message):
        self.stanza["status"] = {
            "code": code,
            "lock": {"backup": {"held": False}},
            "message": message,
        }
        self.stanza["repo"][0]["status"] = {"code": code, "message": message}

    def _info(self, argv):
        return result(json.dumps([self.stanza]))

    def _stanza_create(self, argv):
        self.stanza["db"] = [{"id": 1, "repo-key": 1, "system-id": 7, "version": self.pg}]
        self._set_status(2, "no valid backups")
        return result()

    def _stanza_upgrade(self, argv):
        db_id = max(db["id"] for db in self.stanza["db"]) + 1
        self.stanza["db"].append({"id": db_id, "repo-key": 1, "system-id": 8, "version": self.pg})
        return result()

    def _check(self, argv):
        if self.check_failures:
            self.check_failures -= 1
            return result(stderr=CHECK_ERROR, retcode=82)
        return result()

    def _backup(self, argv):
        kind = next(a.split("=", 1)[1] for a in argv if a.startswith("--type="))
        if not any(b["type"] == "full" for b in self.stanza["backup"]):
            kind = "full"
        entry = copy.deepcopy(stanza_json()["backup"][0])
        entry.update(label=f"20250602-030000{kind[0].upper()}", type=kind)
        entry["timestamp"] = {"start": NOW - 100, "stop": NOW - 10}
        self.stanza["backup"].append(entry)
        self._set_status(0, "ok")
        return result()

    def _restore(self, argv):
        return result()



@pytest.fixture
def fake():
    return FakeBackRest()


@pytest.fixture
def configure_loader_modules(fake):
    # The state sees the real execution module functions; only cmd.run_all is fake.
    salt = {
        f"pgsalt_backrest.{fn}": getattr(backrest_mod, fn)
        for fn in (
            "info",
            "status",
            "check",
            "stanza_create",
            "stanza_upgrade",
            "backup",
            "last_backup_age",
        )
    }
    return {
        backrest_mod: {"__salt__": {"cmd.run_all": fake}, "__opts__": {}},
        backrest_state: {"__salt__": salt, "__opts__": {"test": False}, "__utils__": UTILS},
    }


@pytest.fixture
def clock():
    fake_clock = FakeClock()
    with patch.object(backrest_state, "time", fake_clock):
        yield fake_clock


@pytest.fixture
def test_mode():
    with patch.dict(backrest_state.__opts__, {"test": True}):
        yield


# --- module -------------------------------------------------------------------


def test_virtual_needs_pgbackrest_on_path():
    with patch("salt.utils.path.which", return_value=None):
        ok, reason = backrest_mod.__virtual__()
    assert ok is False and "pgbackrest" in reason
    with patch("salt.utils.path.which", return_value="/usr/bin/pgbackrest"):
        assert backrest_mod.__virtual__() == "pgsalt_backrest"


def test_argv_has_config_stanza_and_runas_and_no_shell(fake):
    backrest_mod.info("main", config="/etc/pgbackrest/main.conf", runas="postgres")
    backrest_mod.check("main", timeout=30, runas="postgres")
    assert fake.calls == [
        (
            [
                "pgbackrest",
                "info",
                "--config=/etc/pgbackrest/main.conf",
                "--stanza=main",
                "--output=json",
            ],
            {"runas": "postgres", "python_shell": False, "ignore_retcode": True},
        ),
        (
            ["pgbackrest", "check", "--archive-timeout=30", "--stanza=main"],
            {"runas": "postgres", "python_shell": False, "ignore_retcode": True, "timeout": 60},
        ),
    ]


def test_info_lists_every_stanza_or_picks_one(fake):
    assert [s["name"] for s in backrest_mod.info()] == ["main"]
    assert backrest_mod.info("main")["db"][-1]["version"] == "16"
    assert backrest_mod.info("other") == {}


def test_info_skips_a_warning_before_the_json(fake):
    warned = result("WARN: configuration file contains invalid option 'repo1-retention'\n")
    warned["stdout"] += json.dumps(json.loads(INFO_JSON)) + "\n"
    with patch.dict(backrest_mod.__salt__, {"cmd.run_all": lambda argv, **kw: warned}):
        assert backrest_mod.info("main")["status"]["code"] == 0


@pytest.mark.parametrize(
    ("code", "repo_message", "expected"),
    [
        (0, "ok", {"code": 0, "message": "ok"}),
        (2, "no valid backups", {"code": 2, "message": "no valid backups"}),
        (
            99,
            "[FileMissingError] unable to load info file"
            " '/var/lib/pgbackrest/backup/main/backup.info'",
            {
                "code": 99,
                "message": "other (repo1: [FileMissingError] unable to load info file "
                "'/var/lib/pgbackrest/backup/main/backup.info')",
            },
        ),
        (
            7,
            "a code from a later pgBackRest",
            {"code": 7, "message": "something new (repo1: a code from a later pgBackRest)"},
        ),
    ],
)
def test_status(fake, code, repo_message, expected):
    overall = {0: "ok", 2: "no valid backups", 99: "other", 7: "something new"}[code]
    fake.stanza["status"] = {"code": code, "lock": {"backup": {"held": False}}, "message": overall}
    fake.stanza["repo"][0]["status"] = {"code": code, "message": repo_message}
    assert backrest_mod.status("main") == expected


@pytest.mark.parametrize(
    ("stdout", "stderr", "expected"),
    [
        ("", CHECK_ERROR, CHECK_ERROR.replace("       ", "").strip()),
        (
            "2025-06-02 10:00:00.123 P00   INFO: check command begin 2.55.1\n"
            "2025-06-02 10:00:00.456 P00  ERROR: [056]: unable to find primary cluster - cannot"
            " proceed\n"
            "2025-06-02 10:00:00.457 P00   INFO: check command end: aborted with exception [056]\n",
            "",
            "ERROR: [056]: unable to find primary cluster - cannot proceed",
        ),
        (
            "",
            "su: user pgbackrest does not exist or the user entry does not contain all the"
            " required fields\n",
            "su: user pgbackrest does not exist or the user entry does not"
            " contain all the required fields",
        ),
    ],
)
def test_error_text(stdout, stderr, expected):
    assert backrest_mod._error_text(stdout, stderr) == expected


def test_failure_names_the_command_and_gives_pgbackrest_error_not_argv(fake):
    fake.check_failures = 1
    with pytest.raises(CommandExecutionError) as err:
        backrest_mod.check("main", config="/etc/pgbackrest/main.conf", runas="postgres")
    message = str(err.value)
    assert message.startswith("pgbackrest check failed: ERROR: [082]: WAL segment")
    assert "HINT: check the PostgreSQL server log" in message
    assert "--config" not in message


def test_killed_run_is_reported_without_the_command_line():
    timed_out = result(
        "['pgbackrest', 'check', '--stanza=main'] : Timed out after 40 seconds", retcode=1
    )
    with patch.dict(backrest_mod.__salt__, {"cmd.run_all": lambda argv, **kw: timed_out}):
        with pytest.raises(CommandExecutionError, match="^pgbackrest check failed: killed after"):
            backrest_mod.check("main", timeout=10)


def test_backup_returns_the_new_backup(fake):
    made = backrest_mod.backup("main", type="diff", extra=["--start-fast"], runas="postgres")
    assert fake.calls[0][0] == [
        "pgbackrest",
        "backup",
        "--type=diff",
        "--start-fast",
        "--stanza=main",
    ]
    assert made == {
        "label": "20250602-030000D",
        "type": "diff",
        "start": NOW - 100,
        "stop": NOW - 10,
        "size": 31457280,
        "repo_size": 4194304,
        "wal_start": "000000020000000000000012",
        "wal_stop": "000000020000000000000012",
    }


@pytest.mark.parametrize("extra", [["start-fast"], ["--start-fast", 3], "--x\n--y"])
def test_backup_refuses_extra_that_is_not_an_option(fake, extra):
    with pytest.raises(CommandExecutionError, match="not a pgBackRest --option"):
        backrest_mod.backup("main", extra=extra)
    assert fake.calls == []


@pytest.mark.parametrize(
    ("kwargs", "options"),
    [
        ({}, []),
        ({"target_type": "latest", "delta": True}, ["--delta"]),
        (
            {"target_type": "time", "target": "2025-06-02 01:30:00+00", "target_action": "pause"},
            ["--type=time", "--target=2025-06-02 01:30:00+00", "--target-action=pause"],
        ),
        (
            {"target_type": "immediate", "set": "20250601-010000F", "pg_path": "/srv/pg"},
            [
                "--pg1-path=/srv/pg",
                "--type=immediate",
                "--target-action=promote",
                "--set=20250601-010000F",
            ],
        ),
        (
            {
                "target_type": "lsn",
                "target": "0/19000100",
                "target_timeline": "current",
                "archive_mode": "off",
            },
            [
                "--type=lsn",
                "--target=0/19000100",
                "--target-action=promote",
                "--target-timeline=current",
                "--archive-mode=off",
            ],
        ),
    ],
)
def test_restore_argv(fake, kwargs, options):
    done = backrest_mod.restore("main", runas="postgres", **kwargs)
    assert fake.calls[0][0] == ["pgbackrest", "restore", *options, "--stanza=main"]
    assert done["target_type"] == (kwargs.get("target_type") or "latest")
    assert done["seconds"] >= 0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"target_type": "timestamp", "target": "x"}, "target_type must be latest or one of"),
        ({"target_type": "time"}, "needs a target"),
        ({"target_type": "immediate", "target": "0/1"}, "takes no target"),
        ({"target": "2025-06-02 01:30:00+00"}, "latest takes no target"),
        ({"target_type": "xid", "target": "1234", "target_action": "resume"}, "target_action"),
        ({"archive_mode": "on"}, "archive_mode"),
    ],
)
def test_restore_refuses_bad_targets_before_running(fake, kwargs, error):
    with pytest.raises(CommandExecutionError, match=error):
        backrest_mod.restore("main", **kwargs)
    assert fake.calls == []


def test_last_backup_age_per_type(fake):
    assert backrest_mod.last_backup_age("main", now=NOW) == {
        "full": NOW - 1748739725,
        "diff": NOW - 1748826041,
        "incr": 3600,
    }
    fake.stanza = stanza_json(2)
    assert backrest_mod.last_backup_age("main") == {"full": None, "diff": None, "incr": None}


# --- state: stanza_present ------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "pg", "changes"),
    [
        (1, "16", {"old": "missing stanza path", "new": "created"}),
        (3, "16", {"old": "missing stanza data", "new": "created"}),
        (0, "17", {"old": "PostgreSQL 16", "new": "upgraded to 17"}),
    ],
)
def test_stanza_present_test_mode_predicts_without_writing(fake, test_mode, code, pg, changes):
    fake.stanza = stanza_json(code)
    ret = backrest_state.stanza_present("main", pg_version=pg, runas="postgres")
    assert ret["result"] is None
    assert ret["changes"] == changes
    assert set(fake.commands) == {"info"}


def test_stanza_present_creates_and_checks(fake, clock):
    fake.stanza = stanza_json(1)
    ret = backrest_state.stanza_present("main", pg_version=16, runas="postgres")
    assert ret == {
        "name": "main",
        "result": True,
        "changes": {"old": "missing stanza path", "new": "created"},
        "comment": "stanza main created; check passed",
    }
    assert fake.commands == ["info", "stanza-create", "info", "info", "check"]
    assert all(kwargs["runas"] == "postgres" for _, kwargs in fake.calls)


def test_stanza_present_upgrades_after_a_major_upgrade(fake, clock):
    fake.pg = "17"
    ret = backrest_state.stanza_present("main", pg_version=17, check=False)
    assert ret["result"] is True
    assert ret["changes"] == {"old": "PostgreSQL 16", "new": "upgraded to 17"}
    assert "stanza-upgrade" in fake.commands and "check" not in fake.commands
    assert fake.stanza["db"][-1] == {"id": 3, "repo-key": 1, "system-id": 8, "version": "17"}


@pytest.mark.parametrize("mode", ["test", "real"])
def test_stanza_present_already_present(fake, clock, mode):
    with patch.dict(backrest_state.__opts__, {"test": mode == "test"}):
        ret = backrest_state.stanza_present("main", pg_version="16")
    assert ret["result"] is True and ret["changes"] == {}
    assert "stanza-create" not in fake.commands and "stanza-upgrade" not in fake.commands
    assert ("check" in fake.commands) is (mode == "real")


def test_stanza_present_retries_check_until_it_passes(fake, clock):
    fake.check_failures = 2
    ret = backrest_state.stanza_present("main")
    assert ret["result"] is True and ret["changes"] == {}
    assert fake.commands.count("check") == 3
    assert clock.sleeps == [5, 5]


def test_stanza_present_fails_with_the_last_check_error(fake, clock):
    fake.stanza = stanza_json(1)
    fake.check_failures = 1000
    ret = backrest_state.stanza_present("main", check_timeout=30)
    assert ret["result"] is False
    assert ret["changes"] == {"old": "missing stanza path", "new": "created"}
    assert "check failed for 30s: pgbackrest check failed: ERROR: [082]" in ret["comment"]
    assert 0 < fake.commands.count("check") <= 7


@pytest.mark.parametrize("mode", ["test", "real"])
def test_stanza_present_refuses_a_stanza_in_error(fake, clock, mode):
    fake.stanza["status"] = {"code": 99, "lock": {"backup": {"held": False}}, "message": "other"}
    fake.stanza["repo"][0]["status"] = {
        "code": 99,
        "message": "[CryptoError] cipher header invalid",
    }
    with patch.dict(backrest_state.__opts__, {"test": mode == "test"}):
        ret = backrest_state.stanza_present("main")
    assert ret["result"] is False
    assert ret["comment"] == (
        "stanza main is not usable: other (repo1: [CryptoError] cipher header invalid) (code 99)"
    )
    assert fake.commands == ["info"]


@pytest.mark.parametrize("test", [True, False])
def test_stanza_present_without_pgbackrest(test):
    with (
        patch.dict(backrest_state.__opts__, {"test": test}),
        patch.dict(backrest_state.__salt__, {}, clear=True),
    ):
        ret = backrest_state.stanza_present("main")
    assert ret["result"] is (None if test else False)
    assert "pgbackrest" in ret["comment"].lower() and ret["changes"] == {}


def test_stanza_present_test_mode_before_pgbackrest_can_run(fake, test_mode):
    missing_config = result(
        stderr="ERROR: [055]: unable to open missing file '/etc/pgbackrest/main.conf' for read\n",
        retcode=55,
    )
    with patch.dict(backrest_mod.__salt__, {"cmd.run_all": lambda argv, **kw: missing_config}):
        ret = backrest_state.stanza_present("main", config="/etc/pgbackrest/main.conf")
    assert ret["result"] is None and ret["changes"] == {}
    assert "ERROR: [055]" in ret["comment"]


# --- state: backup_present ------------------------------------------------------


def test_backup_present_takes_the_first_full_backup_once(fake):
    fake.stanza = stanza_json(2)
    ret = backrest_state.backup_present("main", runas="postgres")
    assert ret["result"] is True
    assert ret["changes"]["old"] == "no full backup"
    assert ret["changes"]["new"]["label"] == "20250602-030000F"
    assert fake.commands.count("backup") == 1

    again = backrest_state.backup_present("main", runas="postgres")
    assert again["result"] is True and again["changes"] == {}
    assert fake.commands.count("backup") == 1


def _member(role):
    def member():
        if role is None:
            raise CommandExecutionError("Patroni's REST API does not answer")
        return {"role": role, "state": "running"}
    return member


@pytest.mark.parametrize("mode", ["test", "real"])
@pytest.mark.parametrize(("role", "acts"), [("primary", True), ("replica", False),
                                            ("standby_leader", False), (None, False)])
def test_primary_only_leaves_the_work_to_the_primary(fake, clock, mode, role, acts):
    """A posix repository: every db host has the states, the current primary acts."""
    fake.stanza = stanza_json(1)
    with patch.dict(backrest_state.__salt__, {"pgsalt_patroni.member": _member(role)}), \
            patch.dict(backrest_state.__opts__, {"test": mode == "test"}):
        stanza = backrest_state.stanza_present("main", pg_version=16, primary_only=True)
        backup = backrest_state.backup_present("main", primary_only=True)
    assert bool(fake.commands) is acts
    if acts:
        assert stanza["changes"]["new"] == "created" and backup["changes"]
    else:
        for ret in (stanza, backup):
            assert ret["result"] is True and ret["changes"] == {}
            assert "not the primary" in ret["comment"]


def test_backup_present_test_mode_predicts(fake, test_mode):
    fake.stanza = stanza_json(2)
    ret = backrest_state.backup_present("main", type="full")
    assert ret["result"] is None
    assert ret["changes"] == {"old": "no full backup", "new": "full backup"}
    assert fake.commands == ["info"]


@pytest.mark.parametrize(("max_age", "taken"), [(None, False), (86400, False), (3600, True)])
def test_backup_present_max_age(fake, max_age, taken):
    with patch.object(backrest_mod.time, "time", return_value=NOW):
        ret = backrest_state.backup_present("main", type="incr", max_age=max_age)
    assert ret["result"] is True
    assert ("backup" in fake.commands) is taken
    assert bool(ret["changes"]) is taken
    if taken:
        assert ret["changes"]["old"] == "newest incr backup is 3600s old"


def test_backup_present_reports_a_diff_turned_full(fake):
    fake.stanza = stanza_json(2)
    ret = backrest_state.backup_present("main", type="diff")
    assert ret["result"] is True
    assert ret["changes"]["new"]["type"] == "full"
    assert "there was none to base a diff on" in ret["comment"]
