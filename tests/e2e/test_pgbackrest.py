"""Backups of the demo cluster: pgBackRest on the repository host pg4, over TLS.

Every test leaves one leader, two streaming replicas and a working archive behind.
"""

import json
import time

import pytest
from checks import (
    assert_archives_new_wal,
    assert_one_leader_and_streaming_replicas,
    local_sql,
    roles,
)
from conftest import failures

pytestmark = pytest.mark.e2e

MEMBERS = ["pg1", "pg2", "pg3"]
REPO = "pg4"
STANZA = "demo"


def backrest(bed, fun, *args):
    return bed.salt(REPO, f"pgsalt_backrest.{fun}", STANZA, *args, "runas=postgres")[REPO]


def backups(bed):
    return backrest(bed, "info")["backup"]


def leader(bed):
    return assert_one_leader_and_streaming_replicas(bed, MEMBERS)


def sql(bed, statement):
    return bed.psql(statement, port=5000, db="app")


def test_deploy_took_a_full_backup_and_archiving_works(bed, demo):
    assert [b for b in backups(bed) if b["type"] == "full"]
    assert backrest(bed, "check") is True
    timers = bed.sh(REPO, "systemctl", "is-active", "pgsalt-backup-full.timer",
                    "pgsalt-backup-diff.timer", "pgsalt-backup-incr.timer")
    assert timers.split() == ["active"] * 3
    # The passphrase lives in the repository host's config only, which others cannot read.
    assert bed.sh(REPO, "stat", "-c", "%a %U:%G", "/etc/pgbackrest/pgbackrest.conf") == \
        "640 root:postgres\n"
    assert "cipher-pass" not in bed.sh("pg1", "cat", "/etc/pgbackrest/pgbackrest.conf")
    shown = json.dumps(bed.salt(REPO, "state.apply", "pgbackrest.config", "test=True"))
    assert "demo-repository-cipher-Vb7xQ2mT" not in shown


def test_orch_backup_takes_the_type_asked_for(bed, demo):
    ok, by_id = bed.orchestrate("orch.backup", {"cluster": "demo", "type": "diff"})
    assert ok, failures(by_id)
    newest = backups(bed)[-1]
    assert newest["type"] == "diff" and newest["label"].endswith("D")
    refused, by_id = bed.orchestrate("orch.backup", {"cluster": "demo", "type": "weekly"})
    assert not refused
    assert "type: weekly is not a backup type" in json.dumps(by_id)


def test_point_in_time_restore_keeps_exactly_the_rows_written_before_t(bed, demo):
    leader(bed)
    sql(bed, "DROP TABLE IF EXISTS pitr; CREATE TABLE pitr (id int PRIMARY KEY)")
    sql(bed, "INSERT INTO pitr SELECT generate_series(1, 100)")
    time.sleep(1)
    target = sql(bed, "SELECT now()")
    time.sleep(1)
    sql(bed, "INSERT INTO pitr SELECT generate_series(101, 250)")
    before = roles(bed, "pg1")
    ok, by_id = bed.orchestrate("orch.restore", {
        "cluster": "demo", "restore": {"type": "time", "target": target}})
    assert ok, failures(by_id)
    point = by_id["pgsalt-restore-point-reached"]["changes"]["ret"]
    (reached,) = point.values()
    assert reached["reason"].startswith("before ")
    assert sql(bed, "SELECT count(*), max(id) FROM pitr") == "100|100"
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)
    assert sorted(roles(bed, "pg1")) == sorted(before)


def test_restore_refuses_a_bad_target_without_touching_a_host(bed, demo):
    ok, by_id = bed.orchestrate("orch.restore", {
        "cluster": "demo", "restore": {"type": "time", "target": "yesterday noon"}})
    assert not ok
    assert list(by_id) == ["pgsalt-restore-refused"]
    assert "restore:target: 'yesterday noon' is not a time target" in json.dumps(by_id)


def test_a_wiped_replica_is_rebuilt_from_the_repository(bed, demo):
    primary = leader(bed)
    replica = next(m for m in MEMBERS if m != primary)
    data_dir = "/var/lib/postgresql/17/demo"
    bed.sh(replica, "systemctl", "stop", "patroni")
    bed.sh(replica, "sh", "-c", f"rm -rf {data_dir}/*")
    since = bed.sh(replica, "date", "+%Y-%m-%d %H:%M:%S").strip()
    bed.sh(replica, "systemctl", "start", "patroni")
    bed.wait("the replica to be rebuilt", lambda: "replica has been created using pgbackrest"
             in bed.sh(replica, "journalctl", "-u", "patroni", "--since", since, "--no-pager"),
             timeout=180)
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)


def test_a_failover_completes_with_the_repository_down_and_archiving_catches_up(bed, demo):
    old = leader(bed)
    bed.tb("kill", REPO)
    try:
        bed.sh(old, "systemctl", "stop", "patroni")
        survivors = [m for m in MEMBERS if m != old]
        new = bed.wait("a new leader", lambda: next(
            (n for n, (role, state) in roles(bed, survivors[0]).items()
             if role in ("leader", "primary") and state == "running" and n != old), None),
            timeout=90)
        sql(bed, "CREATE TABLE IF NOT EXISTS outage (at timestamptz DEFAULT now())")
        sql(bed, "INSERT INTO outage DEFAULT VALUES")
        segment = local_sql(bed, new, "SELECT pg_walfile_name(pg_current_wal_lsn())")
        local_sql(bed, new, "SELECT pg_switch_wal()")
        bed.sh(old, "systemctl", "start", "patroni")
    finally:
        bed.tb("start", REPO)
    bed.wait("the segment written while the repository was down to be archived",
             lambda: local_sql(bed, new, "SELECT last_archived_wal FROM pg_stat_archiver")[:24]
             >= segment, timeout=120)
    bed.wait("pgBackRest's check to pass again", lambda: backrest(bed, "check") is True,
             timeout=120)
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)


def test_restore_drill_passes_and_fails_clearly_on_a_corrupted_backup(bed, demo):
    ok, by_id = bed.orchestrate("orch.restore_drill", {"cluster": "demo"})
    assert ok, failures(by_id)
    report = by_id["pgsalt-restore-drill"]["changes"]["ret"][REPO]
    assert report["result"] is True and report["error"] is None
    assert {"app", "postgres"} <= {d["name"] for d in report["databases"]}
    assert bed.sh(REPO, "test", "!", "-e", "/var/lib/pgbackrest-drill") == ""

    label = backups(bed)[-1]["label"]
    files = f"/var/lib/pgbackrest/backup/{STANZA}/{label}/pg_data"
    victim = bed.sh(REPO, "sh", "-c", f"find {files} -type f -size +8k | head -1").strip()
    assert victim, f"no data file in {files}"
    bed.sh(REPO, "cp", "-p", victim, "/root/victim.orig")
    bed.sh(REPO, "sh", "-c", f"printf 'corrupt' | dd of={victim} bs=1 seek=4096 conv=notrunc")
    try:
        ok, by_id = bed.orchestrate("orch.restore_drill", {"cluster": "demo"})
        assert not ok
        report = by_id["pgsalt-restore-drill"]["changes"]["ret"][REPO]
        assert report["result"] is False
        assert report["error"].startswith("restore:"), report["error"]
        assert bed.sh(REPO, "test", "!", "-e", "/var/lib/pgbackrest-drill") == ""
    finally:
        bed.sh(REPO, "cp", "-p", "/root/victim.orig", victim)


def test_a_stale_segment_of_an_ended_timeline_does_not_stop_archiving(bed, demo):
    """After failovers and rewinds a primary can hold a full segment of an older timeline
    past that timeline's end while the archive holds a former leader's different copy:
    pgBackRest refuses it, and with a bare archive-push PostgreSQL would retry it for ever
    and archive nothing newer."""
    def timeline(node):
        return int(local_sql(bed, node, "CHECKPOINT; SELECT timeline_id FROM "
                             "pg_control_checkpoint()"))

    node = leader(bed)
    if timeline(node) == 1:  # a timeline that ended is needed: switch over once
        ok, by_id = bed.orchestrate("orch.switchover", {"cluster": "demo"})
        assert ok, failures(by_id)
        node = leader(bed)
    data = local_sql(bed, node, "SHOW data_directory")
    ended = bed.sh(node, "cat", f"{data}/pg_wal/{timeline(node):08X}.history").split("\n")
    parent, switch_point = [line.split() for line in ended if line.strip()][-1][:2]
    segment = local_sql(bed, node, f"SELECT pg_walfile_name('{switch_point}')")[8:]
    stale = f"{int(parent):08X}{segment}"
    wal = f"pg_wal/{stale}"
    real = assert_archives_new_wal(bed, node)

    def as_postgres(command):
        return bed.sh(node, "sh", "-c", f"cd {data} && runuser -u postgres -- {command}; "
                      "echo rc=$?").split("rc=")[-1].strip()

    def rewrite(byte, at):
        bed.sh(node, "sh", "-c", f"printf {byte} | dd of={data}/{wal} bs=1 seek={at} "
               "conv=notrunc status=none")

    assert bed.sh(node, "sh", "-c", f"test -e {data}/{wal} && echo present || true") == ""
    repository = f"/var/lib/pgbackrest/archive/{STANZA}"
    ours = False
    try:
        # a former leader's copy in the archive, then another one in pg_wal: real WAL
        # (pgBackRest checks its header) that differs past the switch point
        assert as_postgres(f"pgbackrest --stanza={STANZA} archive-get {real} {data}/{wal}") \
            == "0"
        rewrite("A", 9000000)
        pushed = as_postgres(f"pgbackrest --stanza={STANZA} --no-archive-async "
                             f"archive-push {wal}")
        ours = pushed == "0"
        rewrite("B", 9000001)
        assert as_postgres(f"pgbackrest --stanza={STANZA} --no-archive-async "
                           f"archive-push {wal}") == "45"
        as_postgres(f"touch pg_wal/archive_status/{stale}.ready")
        after = assert_archives_new_wal(bed, node)
        assert after > real
        assert bed.sh(node, "ls", f"{data}/pg_wal/archive_status").split().count(
            f"{stale}.done") == 1
        log = bed.sh(node, "journalctl", "-u", "patroni", "--since", "-5min", "--no-pager")
        assert f"{wal} is not part of this cluster's history" in log
    finally:
        bed.sh(node, "rm", "-f", f"{data}/{wal}", f"{data}/pg_wal/archive_status/{stale}.ready",
               f"{data}/pg_wal/archive_status/{stale}.done")
        if ours:
            bed.sh(REPO, "sh", "-c", f"rm -f {repository}/*/{stale[:16]}/{stale}-*")
    assert backrest(bed, "check") is True
