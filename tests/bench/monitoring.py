"""Monitoring figures on the deployed demo cluster (pg4 monitors it): what the exporters
cost each host, and how long a powered-off primary takes to reach Alertmanager as PGDown.

Needs the demo cluster (make demo); powers the leader off and on again.
"""

import pathlib
import statistics
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "tests" / sub) for sub in ("testbed", "e2e")]
from bed.client import Bed  # noqa: E402
from checks import assert_one_leader_and_streaming_replicas  # noqa: E402
from test_monitoring import firing  # noqa: E402

DB = ["pg1", "pg2", "pg3"]
WINDOW = 60  # seconds the CPU time is counted over
UNITS = {"node_exporter": ("prometheus-node-exporter", DB + ["pg4"]),
         "postgres_exporter": ("prometheus-postgres-exporter", DB),
         "pgbouncer_exporter": ("prometheus-pgbouncer-exporter", DB),
         "Prometheus on the monitor host": ("prometheus", ["pg4"]),
         "Alertmanager on the monitor host": ("prometheus-alertmanager", ["pg4"])}
# CPU ticks (utime + stime) and resident memory of a unit's main process.
SAMPLE = ("pid=$(systemctl show -p MainPID --value {unit}); "
          "echo $(awk '{{print $14 + $15}}' /proc/$pid/stat) "
          "$(awk '/VmRSS/ {{print $2}}' /proc/$pid/status) $(getconf CLK_TCK)")


def _sample(bed, host, unit):
    ticks, rss_kb, hz = bed.sh(host, "sh", "-c", SAMPLE.format(unit=unit)).split()
    return int(ticks) / int(hz), int(rss_kb) / 1024


def bench_cost(rows):
    bed = Bed()
    first = {(name, host): _sample(bed, host, unit)
             for name, (unit, hosts) in UNITS.items() for host in hosts}
    time.sleep(WINDOW)
    for name, (unit, hosts) in UNITS.items():
        cpu, rss = [], []
        for host in hosts:
            seconds, memory = _sample(bed, host, unit)
            cpu.append(100 * (seconds - first[(name, host)][0]) / WINDOW)
            rss.append(memory)
        per_host = (f" per host, scraped every 15 s (median of {len(hosts)} hosts)"
                    if len(hosts) > 1 else "")
        rows.append((f"{name}: CPU and resident memory{per_host}",
                     f"{statistics.median(cpu):.2f} % of a core, "
                     f"{statistics.median(rss):.0f} MiB",
                     f"/proc/PID/stat and status of {unit} over {WINDOW} s"))


def bench_alert(rows, runs=3):
    bed = Bed()
    times = []
    for _ in range(runs):
        leader = assert_one_leader_and_streaming_replicas(bed, DB)
        bed.tb("kill", leader)
        start = time.monotonic()
        try:
            bed.wait("PGDown in Alertmanager",
                     lambda victim=leader: firing("PGDown", instance=victim), timeout=300,
                     interval=1)
            times.append(time.monotonic() - start)
        finally:
            bed.tb("start", leader)
        assert_one_leader_and_streaming_replicas(bed, DB)
        # The old primary's alert resolves before the next run.
        bed.wait("PGDown resolved", lambda victim=leader: not firing("PGDown", instance=victim),
                 timeout=300, interval=2)
    rows.append((f"Primary powered off to PGDown in Alertmanager (down 60 s since its last "
                 f"successful scrape; scrape and evaluation every 15 s); {len(times)} runs",
                 " / ".join(f"{t:.0f} s" for t in times),
                 "tests/testbed/tb kill LEADER; then GET :9093/api/v2/alerts"))


def bench_monitoring(rows):
    bench_cost(rows)
    bench_alert(rows)
