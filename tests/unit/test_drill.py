"""Unit tests for the pgsalt_drill execution module, on a fake pg_ctl, psql and pgBackRest."""

import os
import shlex
import shutil
import stat
import tempfile
from unittest.mock import MagicMock, call, patch

import pytest
from loaders import FakeClock, load
from loaders import run_result as result
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

drill_mod = load("pgsalt_drill_module", "_modules/pgsalt_drill.py")

CONFIG = "/etc/pgbackrest/drill.conf"
SYSTEM_ID = 7390000000000000002
# The stanza as pgsalt_backrest.info returns it (trimmed): upgraded from 15 to 16, with a
# full backup and a newer incr one.
STANZA = {
    "name": "main",
    "status": {"code": 0, "message": "ok"},
    "db": [
        {"id": 1, "repo-key": 1, "system-id": 7380000000000000001, "version": "15"},
        {"id": 2, "repo-key": 1, "system-id": SYSTEM_ID, "version": "16"},
    ],
    "backup": [
        {
            "label": "20250601-010000F",
            "type": "full",
            "info": {"size": 31457280},
            "lsn": {"start": "0/12000028", "stop": "0/12000138"},
            "timestamp": {"start": 1748739600, "stop": 1748739725},
        },
        {
            "label": "20250601-010000F_20250602-020000I",
            "type": "incr",
            "info": {"size": 32014336},
            "lsn": {"start": "0/19000028", "stop": "0/19000100"},
            "timestamp": {"start": 1748829600, "stop": 1748829612},
        },
    ],
}
RECOVERED = "end of the archive replayed, promoted"
RESTORE_ERROR = (
    "pgbackrest restore failed: ERROR: [039]: raised from local-1 shim protocol: error restoring"
    " 'base/16384/16385': actual checksum '0e3e' does not match expected checksum '9f1c'\n"
    "HINT: the backup may be corrupt."
)




class FakeServer:
    """Stands in for cmd.run_all: pg_ctl and psql on the scratch instance, recording calls.

    The server stays in recovery for ``recovery_polls`` polls, then is promoted; with
    ``dies`` it crashes (PANIC, postmaster.pid gone) at the first poll.
    """

    def __init__(self, clock):
        self.clock = clock
        self.recovery_polls = 2
        self.dies = False
        self.system_id = SYSTEM_ID
        self.data = None  # the data directory pg_ctl started
        self.calls = []

    @property
    def commands(self):
        return [
            f"pg_ctl {argv[-1]}" if argv[0].endswith("pg_ctl") else "psql" for argv, _ in self.calls
        ]

    def __call__(self, argv, **kwargs):
        self.calls.append((list(argv), kwargs))
        if argv[0].endswith("/pg_ctl"):
            return self._pg_ctl(argv)
        return self._psql(argv[argv.index("-c") + 1], argv[argv.index("-d") + 1])

    def _pg_ctl(self, argv):
        data = argv[argv.index("-D") + 1]
        pid = os.path.join(data, "postmaster.pid")
        if argv[-1] == "start":
            self.data = data
            with open(argv[argv.index("-l") + 1], "a", encoding="utf-8") as handle:
                handle.write("LOG:  starting PostgreSQL 16.9\nLOG:  entering standby mode\n")
            with open(pid, "w", encoding="utf-8") as handle:
                handle.write("4711\n")
            return result("waiting for server to start.... done\nserver started\n")
        if self.data != data:  # a postmaster.pid this fake's server did not write: stale
            if argv[-1] == "status":
                return result("pg_ctl: no server running\n", retcode=3)
            message = "pg_ctl: could not send stop signal (PID: 4711): No such process\n"
            return result(stderr=message, retcode=1)
        os.remove(pid)
        self.data = None
        return result("waiting for server to shut down.... done\nserver stopped\n")

    def _psql(self, sql, dbname):
        if "pg_is_in_recovery" in sql:
            if self.dies:
                os.remove(os.path.join(self.data, "postmaster.pid"))
                return result(
                    stderr='psql: error: connection to server on socket "/x/.s.PGSQL.5499"'
                    " failed: No such file or directory",
                    retcode=2,
                )
            self.recovery_polls -= 1
            return result("t" if self.recovery_polls >= 0 else "f")
        if "pg_current_wal_lsn" in sql:
            return result(f"0/1A000060|3|{self.system_id}")
        if "pg_database" in sql:
            return result("8388608|app\n7712345|postgres")
        assert sql == "select count(*) from pg_class", sql
        assert dbname in ("dbname='app'", "dbname='postgres'")
        return result("415")


@pytest.fixture
def clock():
    fake_clock = FakeClock()
    with patch.object(drill_mod, "time", fake_clock):
        yield fake_clock


@pytest.fixture
def base():
    # Short: the scratch path holds the server's socket, whose path has a length limit.
    made = tempfile.mkdtemp(prefix="drill-")
    yield made
    shutil.rmtree(made, ignore_errors=True)


@pytest.fixture
def bin_dir(base):
    found = os.path.join(base, "bin")
    os.mkdir(found)
    for tool in ("pg_ctl", "psql"):
        with open(os.path.join(found, tool), "w", encoding="utf-8") as handle:
            handle.write("#!/bin/sh\nexit 1\n")
        os.chmod(os.path.join(found, tool), stat.S_IRWXU)
    return found


@pytest.fixture
def path(base):
    return os.path.join(base, "scratch")


@pytest.fixture
def server(clock):
    return FakeServer(clock)


@pytest.fixture
def restore(clock, path):
    def restored(stanza, pg_path=None, **kwargs):
        assert os.listdir(pg_path) == []  # pgBackRest refuses a directory with files
        with open(os.path.join(pg_path, "PG_VERSION"), "w", encoding="utf-8") as handle:
            handle.write("16\n")
        clock.now += 42
        return {"seconds": 42.0}

    return MagicMock(side_effect=restored)


@pytest.fixture
def configure_loader_modules(server, restore):
    salt = {
        "cmd.run_all": server,
        "pgsalt_backrest.restore": restore,
        "pgsalt_backrest.info": MagicMock(return_value=STANZA),
        "file.chown": MagicMock(return_value=None),
        "event.send": MagicMock(return_value=True),
    }
    with patch("salt.utils.path.which", return_value="/usr/bin/pgbackrest"):
        yield {drill_mod: {"__salt__": salt, "__context__": {}, "__opts__": {}}}


def drill(bin_dir, path, **kwargs):
    return drill_mod.run("main", bin_dir, path, 5499, cluster="demo", **kwargs)


def test_a_passing_drill_reports_restores_checks_and_cleans_up(server, restore, bin_dir, path):
    report = drill(bin_dir, path)

    assert report == {
        "result": True,
        "stanza": "main",
        "cluster": "demo",
        "backup": {
            "label": "20250601-010000F_20250602-020000I",
            "type": "incr",
            "stop": "2025-06-02T02:00:12+00:00",
        },
        "restore_seconds": 42.0,
        "recovery_seconds": 2.0,
        "reached": {"lsn": "0/1A000060", "timeline": 3},
        "databases": [
            {"name": "app", "size_bytes": 8388608},
            {"name": "postgres", "size_bytes": 7712345},
        ],
        "checks": [
            {"name": "server answers", "ok": True, "detail": f"socket in {path}"},
            {"name": "recovery finished", "ok": True, "detail": RECOVERED},
            {"name": "system identifier", "ok": True, "detail": f"{SYSTEM_ID}, as the stanza's"},
            {"name": "database app", "ok": True, "detail": "415 relations in pg_class"},
            {"name": "database postgres", "ok": True, "detail": "415 relations in pg_class"},
            {
                "name": "newest backup",
                "ok": True,
                "detail": "20250601-010000F_20250602-020000I (incr, stopped"
                " 2025-06-02T02:00:12+00:00 at 0/19000100); reached 0/1A000060",
            },
            {"name": "cleanup", "ok": True, "detail": f"server stopped, {path} removed"},
        ],
        "error": None,
        "log_tail": [],
    }
    assert not os.path.exists(path)
    assert "retcode" not in drill_mod.__context__
    drill_mod.__salt__["event.send"].assert_called_once_with("pgsalt/backup/drill/demo", report)

    # The latest backup, restored below the marker, with a patient restore_command.
    restore.assert_called_once_with(
        "main",
        pg_path=f"{path}/data",
        archive_mode="off",
        extra=[
            "--recovery-option=restore_command=/usr/bin/pgbackrest"
            f" --config={CONFIG} --stanza=main --archive-timeout=60 --io-timeout=60"
            ' archive-get %f "%p"',
            f"--tablespace-map-all={path}/tablespace",
        ],
        config=CONFIG,
        runas="postgres",
    )
    assert drill_mod.__salt__["file.chown"].call_args_list[:2] == [
        call(path, "postgres", "postgres"),
        call(f"{path}/data", "postgres", "postgres"),
    ]

    assert server.commands == ["pg_ctl start"] + ["psql"] * 7 + ["pg_ctl stop"]
    assert all(
        kwargs["runas"] == "postgres" and kwargs["python_shell"] is False
        for _, kwargs in server.calls
    )
    start = server.calls[0][0]
    assert start[:8] == [
        f"{bin_dir}/pg_ctl",
        *("-D", f"{path}/data", "-w", "-t", "600", "-l", f"{path}/drill.log"),
    ]
    # -o is one argument that pg_ctl hands to a shell: it must split into these options.
    options = shlex.split(start[start.index("-o") + 1])
    assert options[1::2] == [
        "port=5499",
        "listen_addresses=",
        f"unix_socket_directories={path}",
        f"hba_file={path}/pg_hba.conf",
        f"ident_file={path}/pg_ident.conf",
        "archive_mode=off",
        "cluster_name=drill",
        "hot_standby=on",
        "ssl=off",
        "logging_collector=off",
        "log_destination=stderr",
        "shared_buffers=128MB",
        "huge_pages=off",
        "synchronous_standby_names=",
    ]
    assert set(options[0::2]) == {"-c"}
    assert server.calls[1][0] == [
        f"{bin_dir}/psql",
        "-XAtq",
        "-h",
        path,
        "-p",
        "5499",
        "-U",
        "postgres",
        "-d",
        "dbname='postgres'",
        "-c",
        "select pg_is_in_recovery()",
    ]
    assert server.calls[-1][0] == [
        f"{bin_dir}/pg_ctl",
        "-D",
        f"{path}/data",
        "-m",
        "immediate",
        "-w",
        "-t",
        "60",
        "stop",
    ]


def test_a_restore_failure_fails_the_drill_before_anything_starts(server, restore, bin_dir, path):
    restore.side_effect = CommandExecutionError(RESTORE_ERROR)

    report = drill(bin_dir, path)

    assert report["result"] is False
    assert report["error"] == (
        "restore: pgBackRest failed: ERROR: [039]: raised from local-1 shim protocol: error"
        " restoring 'base/16384/16385': actual checksum '0e3e' does not match expected"
        " checksum '9f1c' HINT: the backup may be corrupt."
    )
    assert drill_mod.__context__["retcode"] == 1
    assert server.calls == []
    assert report["checks"] == [{"name": "cleanup", "ok": True, "detail": f"{path} removed"}]
    assert report["restore_seconds"] is None and report["log_tail"] == []
    assert not os.path.exists(path)
    drill_mod.__salt__["event.send"].assert_called_once_with("pgsalt/backup/drill/demo", report)


def test_a_system_identifier_mismatch_fails_its_check(server, bin_dir, path):
    server.system_id = 7400000000000000003

    report = drill(bin_dir, path)

    assert report["result"] is False
    mismatch = next(c for c in report["checks"] if c["name"] == "system identifier")
    assert mismatch == {
        "name": "system identifier",
        "ok": False,
        "detail": f"restored 7400000000000000003, the stanza's current database is {SYSTEM_ID}",
    }
    assert report["error"] == f"check system identifier: {mismatch['detail']}"
    assert drill_mod.__context__["retcode"] == 1
    assert report["log_tail"] == ["LOG:  starting PostgreSQL 16.9", "LOG:  entering standby mode"]
    assert server.commands[-1] == "pg_ctl stop"
    assert not os.path.exists(path)


@pytest.mark.parametrize("ending", ["timeout", "crash"])
def test_a_recovery_that_does_not_end_fails_the_drill(server, clock, bin_dir, path, ending):
    server.recovery_polls = 10_000
    server.dies = ending == "crash"

    report = drill(bin_dir, path, timeout=30)

    assert report["result"] is False and drill_mod.__context__["retcode"] == 1
    assert report["recovery_seconds"] is None and report["reached"] is None
    if ending == "timeout":
        assert report["error"] == "recovery: still in recovery after 30 s (timeout)"
        assert report["checks"][:2] == [
            {"name": "server answers", "ok": True, "detail": f"socket in {path}"},
            {"name": "recovery finished", "ok": False, "detail": "still in recovery after 30 s"},
        ]
        assert clock.sleeps == [1] * 30
        assert server.commands[-1] == "pg_ctl stop"
    else:
        assert report["error"].startswith("recovery: the server stopped: psql: error:")
        assert server.commands == ["pg_ctl start", "psql"]  # nothing left to stop
    assert report["checks"][-1]["name"] == "cleanup" and report["checks"][-1]["ok"] is True
    assert report["log_tail"][0] == "LOG:  starting PostgreSQL 16.9"
    assert not os.path.exists(path)


def test_a_directory_the_drill_did_not_make_is_refused_untouched(server, restore, bin_dir, path):
    os.mkdir(path)
    with open(os.path.join(path, "PG_VERSION"), "w", encoding="utf-8") as handle:
        handle.write("16\n")

    report = drill(bin_dir, path)

    assert report["result"] is False and drill_mod.__context__["retcode"] == 1
    assert report["error"] == (
        f"setup: {path} exists, is not empty and was not made by a restore drill"
        " (no .pgsalt-drill in it); remove it or choose another path"
    )
    assert os.listdir(path) == ["PG_VERSION"]
    assert report["checks"] == []
    assert server.calls == [] and restore.call_count == 0
    drill_mod.__salt__["pgsalt_backrest.info"].assert_not_called()
    drill_mod.__salt__["file.chown"].assert_not_called()
    drill_mod.__salt__["event.send"].assert_called_once()


def test_an_earlier_drills_leftover_is_replaced(server, bin_dir, path):
    # What a host crash in the middle of a drill leaves: the marker, data, a stale pid file.
    os.makedirs(f"{path}/data/base")
    for name, text in ((".pgsalt-drill", "created\n"), ("data/postmaster.pid", "4711\n")):
        with open(os.path.join(path, name), "w", encoding="utf-8") as handle:
            handle.write(text)

    with patch.object(drill_mod, "log") as log:
        report = drill(bin_dir, path)

    assert report["result"] is True, report["error"]
    assert "leftover of an earlier drill" in log.warning.call_args[0][0]
    assert server.commands[:3] == ["pg_ctl stop", "pg_ctl status", "pg_ctl start"]
    assert server.commands[-1] == "pg_ctl stop"
    assert not os.path.exists(path)
