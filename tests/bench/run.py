"""make bench: measure the bed and the deploy, and write the figures to BENCHMARKS.md.

Each figure is written with the command that produced it. Run as root on the machine that
runs the bed; it takes about 25 minutes (plus a cold image build with --cold).
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

from backup import bench_backup
from day2 import bench_day2
from heal import bench_heal
from monitoring import bench_monitoring
from report import OUT, write_section

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "testbed"))
from bed.client import Bed  # noqa: E402
from bed.host import CGROUP_ROOT, HIERARCHIES  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[2]
TB = ROOT / "tests" / "testbed" / "tb"
DEMO = {"cluster": "demo"}
APP_PASSWORD = "demo-app-password-W8fD3kQs"  # the bed's demo pillar
MEMORY_HOW = "sum of Pss of the hosts' processes (/proc/PID/smaps_rollup)"


def tb(*args, env=None, check=True):
    proc = subprocess.run([str(TB), *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    if check and proc.returncode != 0:
        sys.exit(f"tb {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def timed(*args, **kw):
    started = time.monotonic()
    proc = tb(*args, **kw)
    return time.monotonic() - started, proc


def orchestrate(pillar):
    started = time.monotonic()
    proc = tb("salt-run", "state.orchestrate", "orch.deploy", "pillar=" + json.dumps(pillar),
              "--out=json")
    elapsed = time.monotonic() - started
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    states = next(iter(data["data"].values()))
    failed = [r.get("__id__", k) for k, r in states.items() if r.get("result") is not True]
    if failed:
        sys.exit(f"orch.deploy failed in {', '.join(failed)}: no figure is written")
    changed = sum(len(r.get("changes", {}).get("ret", {})) for r in states.values())
    return elapsed, changed


def bed_memory():
    """Proportional set size of every process of the bed's hosts, in MiB."""
    total = 0
    tree = CGROUP_ROOT / HIERARCHIES[0] / "pgsalt-bed"
    for procs in tree.rglob("cgroup.procs"):
        for pid in procs.read_text().split():
            try:
                rollup = pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text()
            except OSError:
                continue
            total += int(re.search(r"^Pss:\s+(\d+) kB", rollup, re.M).group(1))
    return total / 1024


def pgbench(client, host, port, extra, seconds=15, sslmode="prefer"):
    cmd = ["env", f"PGPASSWORD={APP_PASSWORD}", f"PGSSLMODE={sslmode}", "pgbench", "-n", "-h",
           host, "-p", str(port), "-U", "app", "-T", str(seconds), *extra, "app"]
    out = tb("sh", client, *cmd).stdout
    tps = re.search(r"tps = ([\d.]+)", out)
    if not tps:
        sys.exit(f"pgbench gave no tps:\n{out}")
    return float(tps.group(1))


def client_cpu_per_connection(client, host, port, connections=200):
    """Milliseconds of CPU pgbench itself spends per connection, one client at a time:
    its TLS handshake and SCRAM's client proof (PBKDF2 over the verifier's 4096 rounds)."""
    out = tb("sh", client, "bash", "-c",
             f"export PGPASSWORD={APP_PASSWORD}; TIMEFORMAT='%U %S'; "
             f"{{ time pgbench -n -h {host} -p {port} -U app -C -S -c 1 -t {connections} app "
             ">/dev/null; } 2>&1").stdout.split()
    return (float(out[-2]) + float(out[-1])) * 1000 / connections


def leader_address():
    return tb("psql", "--port", "5000", "-c", "SELECT inet_server_addr()").stdout.strip()


def bench_bed(rows, cold):
    if cold:
        with tempfile.TemporaryDirectory(dir="/var/tmp") as cache:
            seconds, _ = timed("image", "--os", "debian-13", env={"TB_CACHE": cache})
        rows.append(("Cold image build, Debian 13 (debootstrap, salt wheels, image)",
                     f"{seconds:.0f} s", "TB_CACHE=$(mktemp -d) tests/testbed/tb image "
                     "--os debian-13"))
    tb("down")
    up, _ = timed("up", "--nodes", "3")
    rows.append(("`tb up` 3 hosts, warm, until every minion answers (goal <= 15 s)",
                 f"{up:.1f} s", "tests/testbed/tb down; tests/testbed/tb up --nodes 3"))
    time.sleep(20)
    rows.append(("Memory of an idle 3-host bed (systemd + salt-minion per host)",
                 f"{bed_memory():.0f} MiB", MEMORY_HOW))
    down, _ = timed("down")
    rows.append(("`tb down` 3 hosts (goal <= 15 s)", f"{down:.1f} s", "tests/testbed/tb down"))


# The deploy issue's components alone (etcd, PostgreSQL, Patroni, PgBouncer, HAProxy): the
# demo without its repository and monitor host (a member set to null is none), backups and
# the VIP, merged over the repository's pillar by the bed's override.
CORE = {"pgsalt": {"clusters": {"demo": {
    "members": {"pg4": None}, "pgbackrest": {"enabled": False},
    "vip": {"address": None, "interface": None, "virtual_router_id": None, "password": None}}}}}


def first_deploy(nodes):
    """Seconds of orch.deploy on NODES bare hosts."""
    tb("down", "--purge")
    tb("up", "--nodes", str(nodes))
    tb("salt-run", "saltutil.sync_all")
    return orchestrate(DEMO)[0]


def bench_core_deploy(rows):
    bed = Bed()
    bed.override_pillar(CORE)
    try:
        first = first_deploy(3)
    finally:
        bed.override_pillar()
    rows.append(("`orch.deploy` of etcd, PostgreSQL, Patroni, PgBouncer and HAProxy on 3 bare "
                 "Debian 13 hosts (the demo without backups, monitoring and the VIP), warm "
                 "package cache (goal <= 120 s)", f"{first:.0f} s",
                 "tb down --purge; tb up --nodes 3; the demo with members:pg4 null, "
                 "pgbackrest:enabled false and no vip merged over pillar; "
                 "tb salt-run state.orchestrate orch.deploy pillar='{\"cluster\": \"demo\"}'"))


def bench_deploy(rows):
    first = first_deploy(4)
    rows.append(("`orch.deploy` on 3 bare Debian 13 hosts + the repository and monitor host, "
                 "warm package cache, first full backup and monitoring included",
                 f"{first:.0f} s", "tb down --purge; tb up; tb salt-run state.orchestrate "
                 "orch.deploy pillar='{\"cluster\": \"demo\"}'"))
    again, changed = orchestrate(DEMO)
    rows.append(("Re-run of `orch.deploy` (goal <= 30 s, 0 changes)",
                 f"{again:.0f} s, {changed} changes", "the same command again"))
    time.sleep(5)
    rows.append(("Memory of the 4-host bed with the demo cluster running (3 db hosts + the "
                 "repository and monitor host)",
                 f"{bed_memory():.0f} MiB", MEMORY_HOW))


def pgbench_tables():
    tb("sh", "pg3", "env", f"PGPASSWORD={APP_PASSWORD}", "pgbench", "-q", "-i", "-s", "10",
       "-h", "10.77.0.13", "-p", "5000", "-U", "app", "app")


def bench_paths(rows):
    leader = leader_address()
    pgbench_tables()
    common = "pgbench -n -T 15 -U app app, run on pg3"
    pooled = pgbench("pg3", "10.77.0.13", 6432, ["-C", "-S", "-c", "8", "-j", "2"])
    direct = pgbench("pg3", leader, 5432, ["-C", "-S", "-c", "8", "-j", "2"])
    rows.append(("Connect per transaction (`-C -S -c 8`): PgBouncer :6432 / leader :5432 "
                 "(goal >= 5x)", f"{pooled:.0f} / {direct:.0f} tps = {pooled / direct:.2f}x",
                 f"{common} -C -S -c 8 -j 2 -h pg3 -p 6432, then -h <leader> -p 5432"))
    pooled_cpu, direct_cpu = (client_cpu_per_connection("pg3", host, port)
                              for host, port in (("10.77.0.13", 6432), (leader, 5432)))
    rows.append(("The client's own CPU per connection (TLS, SCRAM's client proof), one client: "
                 "PgBouncer :6432 / leader :5432", f"{pooled_cpu:.1f} / {direct_cpu:.1f} ms",
                 "user + sys of `pgbench -n -C -S -c 1 -t 200 -U app app` on pg3, -h pg3 -p "
                 "6432, then -h <leader> -p 5432"))
    via = pgbench("pg3", "10.77.0.13", 5000, ["-S", "-c", "8", "-j", "2"])
    direct = pgbench("pg3", leader, 5432, ["-S", "-c", "8", "-j", "2"])
    rows.append(("Select-only, persistent connections (`-S -c 8`): HAProxy :5000 / leader "
                 ":5432 (goal >= 0.85x)", f"{via:.0f} / {direct:.0f} tps = {via / direct:.2f}x",
                 f"{common} -S -c 8 -j 2 -h pg3 -p 5000, then -h <leader> -p 5432"))


def bench_tls(rows):
    """TLS against plain text in one run, on the leader over loopback: the network takes
    TLS only (hostssl), 127.0.0.1 takes both."""
    pgbench_tables()
    leader = "pg" + str(int(leader_address().rsplit(".", 1)[1]) - 10)
    how = f"pgbench -n -T 15 -U app -h 127.0.0.1 -p 5432 app on the leader ({leader})"
    for what, extra in (("TPC-B-like, persistent connections (`-c 8`)", ["-c", "8", "-j", "2"]),
                        ("Select-only, persistent connections (`-S -c 8`)",
                         ["-S", "-c", "8", "-j", "2"]),
                        ("Connect per transaction (`-C -S -c 8`)",
                         ["-C", "-S", "-c", "8", "-j", "2"])):
        plain = pgbench(leader, "127.0.0.1", 5432, extra, sslmode="disable")
        tls = pgbench(leader, "127.0.0.1", 5432, extra, sslmode="require")
        rows.append((f"{what}: TLS / plain", f"{tls:.0f} / {plain:.0f} tps = {tls / plain:.2f}x",
                     f"PGSSLMODE=disable, then PGSSLMODE=require {how} {' '.join(extra)}"))


def write(rows, title):
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = f"{os.cpu_count()} cores, {shutil.disk_usage('/').total // 2**30} GiB disk"
    write_section(title, [f"Measured {stamp} on this machine ({machine}) by `make bench` "
                          "(`python tests/bench/run.py`).", "",
                          "| what | result | command |", "|---|---|---|",
                          *[f"| {w} | {r} | `{c}` |" for w, r, c in rows]])


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", action="store_true", help="also time a cold image build")
    parser.add_argument("--only", choices=["bed", "deploy", "tls", "backup", "day2", "heal",
                                                "monitoring"],
                        action="append",
                        help="measure only these parts (the deploy part leaves the demo "
                             "cluster deployed, which the backup, day2 and heal parts need)")
    args = parser.parse_args()
    parts = args.only or ["bed", "deploy", "tls", "backup", "day2", "heal", "monitoring"]
    if "bed" in parts:
        rows = []
        bench_bed(rows, args.cold)
        write(rows, "Test bed")
    if "deploy" in parts:
        rows = []
        bench_core_deploy(rows)
        bench_deploy(rows)
        bench_paths(rows)
        write(rows, "Deploy and connection paths")
    if "tls" in parts:
        rows = []
        bench_tls(rows)
        write(rows, "TLS")
    if "backup" in parts:
        rows = []
        bench_backup(rows)
        write(rows, "Backups")
    if "day2" in parts:
        rows = []
        bench_day2(rows)
        write(rows, "Day-2 operations")
    if "heal" in parts:
        rows = []
        bench_heal(rows)
        write(rows, "Self-healing (MTTR)")
    if "monitoring" in parts:
        rows = []
        bench_monitoring(rows)
        write(rows, "Monitoring")
    print(OUT.read_text())


if __name__ == "__main__":
    main()
