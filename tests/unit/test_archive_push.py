"""salt/pgbackrest's archive_command, run as PostgreSQL's archiver runs it (in the data
directory, with %p), around a stand-in for pgBackRest that exits with a chosen code
(tests/e2e/test_pgbackrest.py runs it with PostgreSQL and pgBackRest themselves)."""

import subprocess

import loaders
import pytest

pytestmark = pytest.mark.unit

SCRIPT = loaders.ROOT / "salt" / "pgbackrest" / "files" / "pgsalt-archive-push"
# Timeline 3's history: timeline 1 ended in segment 0x03, timeline 2 in segment 0x1D.
HISTORY = ("1\t0/3000060\tno recovery target specified\n\n"
           "2\t0/1D4A3B28\tno recovery target specified\n")


def _push(tmp_path, wal, code, history=HISTORY):
    wal_dir = tmp_path / "pg_wal"
    wal_dir.mkdir()
    if history:
        (wal_dir / "00000002.history").write_text(HISTORY.split("\n\n")[0] + "\n")
        (wal_dir / "00000003.history").write_text(history)
    with open(wal_dir / wal, "wb") as segment:
        segment.truncate(16 * 1024 * 1024)
    pgbackrest = tmp_path / "pgbackrest"
    pgbackrest.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\nexit {code}\n")
    pgbackrest.chmod(0o755)
    run = subprocess.run([SCRIPT, pgbackrest, "--stanza=demo", "archive-push", f"pg_wal/{wal}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)
    assert (tmp_path / "args").read_text().split() == [
        "--stanza=demo", "archive-push", f"pg_wal/{wal}"]
    return run.returncode, run.stderr


@pytest.mark.parametrize(("wal", "code", "returned"), [
    ("00000003000000000000001F", 0, 0),
    # timeline 2 ended inside this segment: recovery reads timeline 3's copy of it
    ("00000002000000000000001D", 45, 0),
    # and after this one's start
    ("00000002000000000000001E", 45, 0),
    # a different copy of WAL that is part of the history stays an error
    ("00000002000000000000001C", 45, 45),
    ("00000003000000000000001F", 45, 45),
    ("00000002000000000000001D.partial", 45, 45),
    # pgBackRest's other failures pass through
    ("00000002000000000000001D", 1, 1),
])
def test_only_a_stale_copy_of_an_ended_timeline_counts_as_archived(tmp_path, wal, code,
                                                                    returned):
    returncode, stderr = _push(tmp_path, wal, code)
    assert returncode == returned
    assert ("timeline 2 ended at 0/1D4A3B28" in stderr) is (returned != code)


def test_without_a_history_a_duplicate_stays_an_error(tmp_path):
    assert _push(tmp_path, "00000001000000000000001D", 45, history=None)[0] == 45
