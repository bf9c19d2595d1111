"""Day-2 figures on the deployed demo cluster, under a write load through PgBouncer (6432):
switchovers with and without the pooler paused, a rolling restart of the 3 db hosts, and
scaling out to a fourth host with a database of about 1 GB (then removing it again).

Needs the demo cluster (make demo); adds the host pg7 to the bed.
"""

import json
import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / "testbed"), str(ROOT / "tests" / "chaos")]
from bed.client import Bed  # noqa: E402
from load import measured  # noqa: E402
from scenarios import conninfo  # noqa: E402

DEMO = {"cluster": "demo"}
OVERRIDE = ["pgsalt", "clusters", "demo"]
RUNS = 5


def _orch(bed, sls, pillar):
    started = time.monotonic()
    ok, by_id = bed.orchestrate(sls, pillar)
    if not ok:
        sys.exit(f"{sls} failed: {json.dumps(by_id)[-3000:]}")
    return time.monotonic() - started, by_id


def _override(bed, demo=None):
    bed.override_pillar({"pgsalt": {"clusters": {"demo": demo}}} if demo else None)


def _switchovers(bed, pause):
    runs = []
    for _ in range(RUNS):
        with measured(conninfo("pg1", 6432)) as load:
            _, by_id = _orch(bed, "orch.switchover", dict(DEMO, pause_pooler=pause))
        new = by_id["pgsalt-switchover"]["changes"]["new"]
        runs.append({"failed": len(load["failed"]), "lost": len(load["lost"]),
                     "wait": load["max_latency"] - load["median_latency"],
                     "held": new.get("held_s") or new.get("routed_s")})
        time.sleep(5)
    return runs


def _switchover_rows(bed, rows):
    command = ("salt-run state.orchestrate orch.switchover pillar='{\"cluster\": \"demo\", "
               "\"pause_pooler\": %s}' (x%d, a client committing every 50 ms through pg1:6432)")
    for pause in (True, False):
        runs = _switchovers(bed, pause)
        waits = sorted(r["wait"] for r in runs)
        failed = [r["failed"] for r in runs]
        what = ("Switchover with PgBouncer paused: failed transactions; the longest added wait "
                "of a transaction, median / worst (goal 0 failed, <= 2 s)" if pause else
                "Switchover without the pause: failed transactions; the write gap (longest "
                "transaction), median / worst")
        rows.append((what, f"{sum(failed)} failed in {RUNS} runs (per run {failed}); "
                     f"{statistics.median(waits):.1f} / {waits[-1]:.1f} s; lost 0"
                     if not any(r["lost"] for r in runs) else f"LOST WRITES: {runs}",
                     command % ("true" if pause else "false", RUNS)))


def _rolling_restart_rows(bed, rows):
    _override(bed, {"postgresql": {"parameters": {"shared_buffers": "144MB"}}})
    try:
        with measured(conninfo("pg1", 6432)) as load:
            total, by_id = _orch(bed, "orch.config", DEMO)
    finally:
        _override(bed)
    step = by_id["pgsalt-config-rolling-restart"]
    report = step["changes"]["new"]
    rows.append(("Rolling restart of 3 db hosts for a changed shared_buffers (replicas, then a "
                 "paused switchover; the whole orch.config / its restart step)",
                 f"{total:.0f} s / {step['duration'] / 1000:.0f} s, order "
                 f"{' -> '.join(report['restarted'])}, {len(load['failed'])} failed "
                 f"transactions", "pillar postgresql:parameters:shared_buffers 144MB; "
                 "salt-run state.orchestrate orch.config pillar='{\"cluster\": \"demo\"}'"))
    _orch(bed, "orch.config", DEMO)


def _leader(bed):
    view = bed.salt("pg1", "pgsalt_patroni.cluster")["pg1"]["members"]
    return next(m["name"] for m in view if m["role"] in ("leader", "primary"))


def _scale_out_rows(bed, rows):
    leader = _leader(bed)
    bed.sh(leader, "sh", "-c", "su postgres -c 'pgbench -q -i -s 60 app' >/dev/null 2>&1")
    mb = int(bed.sh(leader, "psql", "-U", "postgres", "-XAtqc",
                    "SELECT sum(pg_database_size(oid)) FROM pg_database")) / 2**20
    _orch(bed, "orch.backup", dict(DEMO, type="full"))
    bed.tb("add", "pg7")
    bed.tb("salt-run", "saltutil.sync_all")
    _override(bed, {"members": {"pg7": {"roles": ["db"]}}})
    try:
        with measured(conninfo("pg1", 6432)) as load:
            total, by_id = _orch(bed, "orch.scale_out", DEMO)
    finally:
        _override(bed)
    replica = by_id["pgsalt-scale-out-patroni-pg7"]["duration"] / 1000
    rows.append((f"Scale-out to a 4th db host with {mb:.0f} MB of data (restored from the "
                 "repository, then streaming): the whole orch.scale_out / the new replica's "
                 "step", f"{total:.0f} s / {replica:.0f} s, {len(load['failed'])} failed "
                 "transactions", "members:pg7 {roles: [db]} in pillar; salt-run "
                 "state.orchestrate orch.scale_out pillar='{\"cluster\": \"demo\"}'"))
    total, _ = _orch(bed, "orch.remove_node", dict(DEMO, node="pg7"))
    rows.append(("Removing that host again (Patroni's member key expires with its ttl)",
                 f"{total:.0f} s", "salt-run state.orchestrate orch.remove_node "
                 "pillar='{\"cluster\": \"demo\", \"node\": \"pg7\"}'"))
    bed.tb("rebuild", "pg7")
    bed.sh(_leader(bed), "psql", "-U", "postgres", "-XAqc", "DROP TABLE IF EXISTS "
           "pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers", "app")


def bench_day2(rows):
    bed = Bed()
    _switchover_rows(bed, rows)
    _rolling_restart_rows(bed, rows)
    _scale_out_rows(bed, rows)
