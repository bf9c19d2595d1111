"""Backup figures on the deployed demo cluster: backup and restore throughput, rebuilding a
replica with a pgBackRest delta restore against pg_basebackup, and a point-in-time restore.

Needs the demo cluster (make demo). Loads about 1 GB (pgbench -i -s 60) into app.
"""

import json
import pathlib
import subprocess
import sys
import time

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "testbed"))
from bed.client import Bed  # noqa: E402

MEMBERS = ["pg1", "pg2", "pg3"]
DATA_DIR = "/var/lib/postgresql/17/demo"
PATRONICTL = ["patronictl", "-c", "/etc/patroni/config.yml"]


def replication_password():
    demo = yaml.safe_load((ROOT / "pillar/pgsalt/demo.sls").read_text())
    return demo["pgsalt"]["clusters"]["demo"]["users"]["replication"]["password"]


def members(bed):
    out = json.loads(bed.sh("pg1", *PATRONICTL, "list", "-f", "json"))
    return {m["Member"]: m for m in out}


def wait_streaming(bed, member, timeout=900):
    bed.wait(f"{member} streaming", lambda: members(bed).get(member, {}).get("State")
             == "streaming", timeout=timeout, interval=0.5)


def timed(fn):
    started = time.monotonic()
    fn()
    return time.monotonic() - started


def database_mb(bed, leader):
    size = bed.sh(leader, "psql", "-U", "postgres", "-XAtqc",
                  "SELECT sum(pg_database_size(oid)) FROM pg_database")
    return int(size) / 2**20


def bench_backup(rows):
    bed = Bed()
    view = members(bed)
    leader = next(n for n, m in view.items() if m["Role"] == "Leader")
    replica = next(n for n, m in view.items() if m["Role"] == "Replica")
    address = view[leader]["Host"]
    bed.sh(leader, "sh", "-c", "psql -U postgres -XAqc 'DROP TABLE IF EXISTS pgbench_accounts, "
           "pgbench_branches, pgbench_history, pgbench_tellers' app && su postgres -c "
           "'pgbench -q -i -s 60 app' >/dev/null 2>&1")
    mb = database_mb(bed, leader)

    ok = {}
    seconds = timed(lambda: ok.update(full=bed.orchestrate(
        "orch.backup", {"cluster": "demo", "type": "full"})[0]))
    assert ok["full"], "orch.backup failed"
    rows.append((f"Full backup of {mb:.0f} MB (zst, aes-256-cbc, process-max 2) to the "
                 "repository host", f"{seconds:.0f} s = {mb / seconds:.0f} MB/s",
                 "salt-run state.orchestrate orch.backup pillar='{\"cluster\": \"demo\", "
                 "\"type\": \"full\"}'"))
    bed.sh(leader, "su", "postgres", "-c", "pgbench -n -T 20 app >/dev/null")

    reinit = timed(lambda: (bed.sh(replica, *PATRONICTL, "reinit", "demo", replica, "--force",
                                   "--wait"), wait_streaming(bed, replica)))
    rows.append((f"Rebuild a replica of {mb:.0f} MB with Patroni's reinit (pgBackRest delta "
                 "restore of the latest backup, until it streams)", f"{reinit:.0f} s",
                 f"patronictl reinit demo {replica} --force --wait"))
    # The bed's bridge moves data at memory speed; both copies below cross a 1 Gbit/s link
    # (the replica's port on the bridge), as they would between real hosts.
    link = ["tc", "qdisc", "replace", "dev", f"vb-{replica}", "root", "tbf", "rate", "1gbit",
            "burst", "1mb", "latency", "50ms"]
    # The replica's files, written out: the changes since the backup are on its disk.
    bed.sh(replica, "psql", "-U", "postgres", "-XAqc", "CHECKPOINT")
    bed.sh(replica, "sh", "-c", f"rm -rf /var/tmp/delta && cp -a {DATA_DIR} /var/tmp/delta && "
           "rm /var/tmp/delta/postmaster.pid")
    bed.sh(leader, "su", "postgres", "-c", "pgbench -n -T 10 app >/dev/null")
    subprocess.run(link, check=True)
    try:
        delta = timed(lambda: bed.sh(replica, "su", "postgres", "-c", "pgbackrest --stanza=demo "
                                     "--delta --pg1-path=/var/tmp/delta restore"))
        basebackup = timed(lambda: bed.sh(
            replica, "sh", "-c", f"rm -rf /var/tmp/bb && PGPASSWORD='{replication_password()}' "
            f"pg_basebackup -h {address} -U replicator -D /var/tmp/bb -X stream -c fast"))
    finally:
        subprocess.run(["tc", "qdisc", "del", "dev", f"vb-{replica}", "root"], check=False)
        bed.sh(replica, "rm", "-rf", "/var/tmp/delta", "/var/tmp/bb")
    rows.append((f"Copy for a rebuilt replica of {mb:.0f} MB over 1 Gbit/s: pgBackRest delta "
                 "restore over the replica's data / pg_basebackup (goal <= 0.5x)",
                 f"{delta:.1f} s / {basebackup:.1f} s = {delta / basebackup:.2f}x",
                 f"tc ... tbf rate 1gbit on vb-{replica}; pgbackrest --delta --pg1-path=COPY "
                 "restore; pg_basebackup -X stream -c fast from the leader"))

    def wiped():
        bed.sh(replica, "systemctl", "stop", "patroni")
        bed.sh(replica, "sh", "-c", f"rm -rf {DATA_DIR}/*")
        bed.sh(replica, "systemctl", "start", "patroni")
        wait_streaming(bed, replica)
    seconds = timed(wiped)
    rows.append((f"Restore of {mb:.0f} MB into an empty data directory (a wiped replica, "
                 "until it streams)", f"{seconds:.0f} s = {mb / seconds:.0f} MB/s",
                 f"systemctl stop patroni; rm -rf {DATA_DIR}/*; systemctl start patroni"))

    target = bed.sh(leader, "psql", "-U", "postgres", "-XAtqc", "SELECT now()").strip()
    bed.sh(leader, "su", "postgres", "-c", "pgbench -n -T 10 app >/dev/null")
    seconds = timed(lambda: ok.update(pitr=bed.orchestrate("orch.restore", {
        "cluster": "demo", "restore": {"type": "time", "target": target}})[0]))
    assert ok["pitr"], "orch.restore failed"
    rows.append((f"Point-in-time restore of {mb:.0f} MB, whole orchestration (stop, restore, "
                 "new timeline, full backup, 2 replicas rebuilt)", f"{seconds:.0f} s",
                 "salt-run state.orchestrate orch.restore pillar='{\"cluster\": \"demo\", "
                 "\"restore\": {\"type\": \"time\", \"target\": \"<T>\"}}'"))
    leader = next(n for n, m in members(bed).items() if m["Role"] == "Leader")
    bed.sh(leader, "psql", "-U", "postgres", "-XAqc", "DROP TABLE IF EXISTS pgbench_accounts, "
           "pgbench_branches, pgbench_history, pgbench_tellers", "app")
