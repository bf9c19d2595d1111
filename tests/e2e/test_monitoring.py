"""Monitoring on the deployed demo cluster: pg4 (role monitor) runs Prometheus and
Alertmanager and scrapes every member's exporters, Patroni, etcd and HAProxy.

Prometheus's and Alertmanager's HTTP APIs are asked from the machine that runs the bed
(it sits on the bed's bridge)."""

import json
import pathlib
import re
import time
import urllib.parse
import urllib.request

import pytest
from checks import assert_one_leader_and_streaming_replicas

pytestmark = pytest.mark.e2e

ROOT = pathlib.Path(__file__).resolve().parents[2]
MONITOR = "pg4"
PROMETHEUS = "http://10.77.0.14:9090"
ALERTMANAGER = "http://10.77.0.14:9093"
DB = ["pg1", "pg2", "pg3"]
MEMBERS = DB + [MONITOR]
JOBS = {"node": MEMBERS, "postgres": DB, "patroni": DB, "etcd": DB, "haproxy": DB,
        "pgbouncer": DB, "prometheus": [MONITOR], "alertmanager": [MONITOR]}
# PromQL words that look like metric names in an expression.
PROMQL_WORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "sum", "min", "max", "avg", "count", "stddev", "stdvar", "topk",
    "bottomk", "quantile", "count_values", "rate", "irate", "increase", "delta", "idelta",
    "changes", "resets", "absent", "absent_over_time", "histogram_quantile", "time",
    "vector", "scalar", "clamp_min", "clamp_max", "round", "abs", "label_replace",
    "avg_over_time", "max_over_time", "min_over_time", "sum_over_time", "last_over_time",
    "deriv", "predict_linear", "sort", "sort_desc", "timestamp", "group", "inf", "nan",
}


def api(base, path, **params):
    url = f"{base}{path}" + (f"?{urllib.parse.urlencode(params)}" if params else "")
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def query(expr):
    return api(PROMETHEUS, "/api/v1/query", query=expr)["data"]["result"]


def metric_names(expr):
    """The metric names in a PromQL expression: identifiers that are not inside a label
    matcher or a string, not PromQL words, not durations and not label names."""
    expr = re.sub(r'"[^"]*"', '""', expr)
    expr = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?", "0", expr)  # numbers such as 1e+06
    expr = re.sub(r"\{[^}]*\}", "{}", expr)
    expr = re.sub(r"\[[^\]]*\]", "[]", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set(re.findall(r"[A-Za-z_:][A-Za-z0-9_:]*", expr))
    return {n for n in names if n.lower() not in PROMQL_WORDS and not n.startswith("$")
            and not re.fullmatch(r"\d+[smhdwy]", n)}


def test_every_target_is_up_with_cluster_and_role_labels(bed, demo):
    def targets():
        found = api(PROMETHEUS, "/api/v1/targets", state="active")["data"]["activeTargets"]
        return found if all(t["health"] == "up" for t in found) and len(found) == sum(
            len(v) for v in JOBS.values()) else None
    found = bed.wait("every target up", targets, timeout=180, interval=5)
    by_job = {}
    for target in found:
        labels = target["labels"]
        assert labels["cluster"] == "demo" and labels["role"], labels
        by_job.setdefault(labels["job"], []).append(labels["instance"])
    assert {job: sorted(hosts) for job, hosts in by_job.items()} == JOBS


def test_every_metric_in_rules_and_dashboards_exists(bed, demo):
    # The backup metrics come from a timer; the first run is 5 s after the deploy.
    bed.wait("backup metrics", lambda: query("pgsalt_backup_age_seconds"), timeout=120)
    rules = api(PROMETHEUS, "/api/v1/rules")["data"]["groups"]
    used = {name for group in rules for rule in group["rules"]
            for name in metric_names(rule["query"])}
    for path in sorted((ROOT / "salt/monitoring/files/dashboards").glob("*.json")):
        text = path.read_text()
        for expr in re.findall(r'"expr":\s*"((?:[^"\\]|\\.)*)"', text):
            used |= metric_names(json.loads(f'"{expr}"'))
    used -= {"ALERTS"}  # Prometheus's own series, present once an alert fires
    known = set(api(PROMETHEUS, "/api/v1/label/__name__/values")["data"])
    assert len(used) > 60, used
    assert not used - known, f"used but exported by nobody: {sorted(used - known)}"


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
    bed.tb("kill", leader)
    start = time.monotonic()
    try:
        bed.wait("PGDown for the old primary", lambda: firing("PGDown", instance=leader),
                 timeout=window + 60, interval=0.5)
        down = time.monotonic() - start
        bed.wait("PatroniTimelineSwitch", lambda: firing("PatroniTimelineSwitch"),
                 timeout=120, interval=2)
        switch = time.monotonic() - start
        print(f"PGDown after {down:.0f} s, PatroniTimelineSwitch after {switch:.0f} s")
        assert down <= window + 1, (down, window)  # + the poll's interval and request
    finally:
        bed.tb("start", leader)
    assert_one_leader_and_streaming_replicas(bed, DB)
