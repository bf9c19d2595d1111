"""Monitoring on the deployed demo cluster: pg4 (role monitor) runs Prometheus and
Alertmanager and scrapes every member's exporters, Patroni, etcd and HAProxy.

Prometheus's and Alertmanager's HTTP APIs are asked from the machine that runs the bed
(it sits on the bed's bridge)."""

import re
import time

import prometheus
import pytest
from checks import assert_one_leader_and_streaming_replicas
from prometheus import ROOT, api, assert_targets_up, unexported_metrics

pytestmark = pytest.mark.e2e

MONITOR = "pg4"
PROMETHEUS = "http://10.77.0.14:9090"
ALERTMANAGER = "http://10.77.0.14:9093"
DB = ["pg1", "pg2", "pg3"]
MEMBERS = DB + [MONITOR]
JOBS = {"node": MEMBERS, "postgres": DB, "patroni": DB, "etcd": DB, "haproxy": DB,
        "pgbouncer": DB, "prometheus": [MONITOR], "alertmanager": [MONITOR]}


def query(expr):
    return prometheus.query(PROMETHEUS, expr)


def test_every_target_is_up_with_cluster_and_role_labels(bed, demo):
    assert_targets_up(bed, PROMETHEUS, JOBS, "demo")


def test_every_metric_in_rules_and_dashboards_exists(bed, demo):
    missing = unexported_metrics(bed, PROMETHEUS)
    assert not missing, f"used but exported by nobody: {sorted(missing)}"


def test_alert_rules_pass_their_promtool_unit_tests(bed, demo):
    tests = (ROOT / "tests/promtool/pgsalt-rules.test.yml").read_text()
    bed.sh(MONITOR, "sh", "-c", "rm -rf /tmp/pgsalt-rules && mkdir /tmp/pgsalt-rules && "
           "cp /etc/prometheus/rules/pgsalt.yml /tmp/pgsalt-rules/")
    bed.sh(MONITOR, "sh", "-c", f"cat > /tmp/pgsalt-rules/test.yml <<'EOF'\n{tests}\nEOF")
    out = bed.sh(MONITOR, "sh", "-c", "cd /tmp/pgsalt-rules && promtool test rules test.yml")
    assert "SUCCESS" in out, out


def firing(name, **labels):
    alerts = api(ALERTMANAGER, "/api/v2/alerts", active="true")
    return [a for a in alerts if a["labels"].get("alertname") == name
            and all(a["labels"].get(k) == v for k, v in labels.items())]


def test_stopped_replication_fires_the_not_streaming_alert(bed, demo):
    leader = assert_one_leader_and_streaming_replicas(bed, DB)
    replica = next(m for m in DB if m != leader)
    # The replica's WAL receiver loses the leader's PostgreSQL; the running one is killed
    # so that it need not wait out wal_receiver_timeout.
    bed.tb("partition", replica, leader, "--ports", "5432")
    try:
        bed.sh(replica, "sh", "-c", "pkill -f 'postgres: .*[w]alreceiver' || true")
        start = time.monotonic()
        bed.wait("PGReplicaNotStreaming in Alertmanager",
                 lambda: firing("PGReplicaNotStreaming", instance=replica), timeout=240,
                 interval=2)
        print(f"PGReplicaNotStreaming after {time.monotonic() - start:.0f} s")
    finally:
        bed.tb("heal", replica)
    assert_one_leader_and_streaming_replicas(bed, DB)


def _seconds(duration):
    """A duration as Prometheus prints it back (60s becomes 1m, 90s 1m30s), in seconds."""
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[unit]
               for n, unit in re.findall(r"(\d+)([hms])", duration))


def test_primary_power_off_fires_pg_down_and_timeline_switch(bed, demo):
    leader = assert_one_leader_and_streaming_replicas(bed, DB)
    rule = next(r for g in api(PROMETHEUS, "/api/v1/rules")["data"]["groups"]
                for r in g["rules"] if r["name"] == "PGDown")
    # The bound: the rule's window (down_for, counted from the last scrape that
    # said up) plus one scrape interval (15 s), which is also the evaluation interval.
    window = _seconds(re.search(r"\[([0-9hms]+)\]", rule["query"]).group(1)) + 15
    # An earlier switch may still be alerted on (for timeline_switch_window): wait for this
    # failover's, the one to the next timeline.
    timeline = int(float(query(f'patroni_postgres_timeline{{instance="{leader}"}}')[0]
                         ["value"][1])) + 1
    bed.tb("kill", leader)
    start = time.monotonic()
    try:
        bed.wait("PGDown for the old primary", lambda: firing("PGDown", instance=leader),
                 timeout=window + 60, interval=0.5)
        down = time.monotonic() - start
        bed.wait(f"PatroniTimelineSwitch to timeline {timeline}", lambda: [
            a for a in firing("PatroniTimelineSwitch")
            if f"on timeline {timeline} " in a["annotations"]["summary"]],
            timeout=120, interval=2)
        switch = time.monotonic() - start
        print(f"PGDown after {down:.0f} s, PatroniTimelineSwitch after {switch:.0f} s")
        assert down <= window + 1, (down, window)  # + the poll's interval and request
    finally:
        bed.tb("start", leader)
    assert_one_leader_and_streaming_replicas(bed, DB)
