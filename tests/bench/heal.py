"""Self-healing figures on the deployed demo cluster: the time from a fault to the
repair's event (MTTR), with nobody running a command; heal:enabled is on for the run only.

Needs the demo cluster (make demo); starts the host pg8 (a new member) and rebuilds a
replica.
"""

import pathlib
import statistics
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / sub) for sub in ("testbed", "chaos", "e2e")]
import healing as h  # noqa: E402
from bed.client import Bed  # noqa: E402

RUNS = 3
WATCH = "salt-run state.event 'pgsalt/heal/*'"


def _repeated(bed, scenario):
    return sorted(scenario(bed, h.a_replica(bed))["mttr"] for _ in range(RUNS))


def _row(what, times, goal, how):
    if len(times) > 1:
        what, result = (f"{what} (goal {goal}); median / worst of {len(times)}",
                        f"{statistics.median(times):.0f} / {times[-1]:.0f} s")
    else:
        what, result = f"{what} (goal {goal})", f"{times[0]:.0f} s"
    return what, result, f"{how}; then {WATCH}"


def bench_heal(rows):
    bed = Bed()
    with h.healing(bed):
        rows.append(_row("A stopped Patroni on a replica: started again, streaming",
                         _repeated(bed, h.stopped_patroni), "<= 60 s",
                         "systemctl stop patroni"))
        rows.append(_row("A replica whose PostgreSQL cannot start (pg_control gone, server "
                         "killed): reinitialised from the leader, streaming",
                         _repeated(bed, h.unstartable_replica), "<= 60 s",
                         "rm global/pg_control; pkill -9 postgres"))
        rows.append(_row("A replica's data directory emptied: a new copy, streaming (Patroni "
                         "re-clones it itself)", _repeated(bed, h.removed_data_directory),
                         "<= 60 s", "rm -rf DATA_DIR/*"))
        rows.append(_row("An etcd member that lost its data (etcd panics at start): a start "
                         "tried, then the member replaced, 3 healthy members",
                         _repeated(bed, h.lost_etcd_data), "<= 60 s",
                         "systemctl stop etcd; rm -rf ETCD_DATA_DIR/member; systemctl start "
                         "etcd"))
        result = h.rebuilt_host(bed, h.a_replica(bed))
        rows.append(_row("A rebuilt host (wiped, same minion id; dcs, db and balancer): "
                         f"enrolled, etcd member replaced, streaming (orch.enroll took "
                         f"{result['event']['seconds']:.0f} s)", [result["mttr"]],
                         "<= 3 min", "tests/testbed/tb rebuild HOST"))
        h.heal_pillar(bed, members={"pg8": {"roles": ["db"]}})
        result = h.new_host(bed, "pg8")
        rows.append(_row("A new host listed in pillar: enrolled, members converged, "
                         f"streaming (orch.enroll took {result['event']['seconds']:.0f} s)",
                         [result["mttr"]], "none set", "members:pg8 {roles: [db]}; "
                         "tests/testbed/tb add pg8"))
        h.heal_pillar(bed)
        ok, by_id = bed.orchestrate("orch.remove_node", {"cluster": "demo", "node": "pg8"})
        assert ok, by_id
    bed.tb("rebuild", "pg8")
    bed.tb("kill", "pg8")
