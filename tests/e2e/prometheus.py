"""Checks against a monitor host's Prometheus, shared by the Debian 13 and Debian 12
clusters' tests. Its HTTP API is asked from the machine that runs the bed (it sits on
the bed's bridge)."""

import json
import pathlib
import re
import urllib.parse
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parents[2]
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


def query(prometheus, expr):
    return api(prometheus, "/api/v1/query", query=expr)["data"]["result"]


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


def assert_targets_up(bed, prometheus, jobs, cluster):
    """Every target of JOBS ({job: [host]}) is up, and no other, each labelled with
    CLUSTER and a role."""
    def targets():
        found = api(prometheus, "/api/v1/targets", state="active")["data"]["activeTargets"]
        return found if all(t["health"] == "up" for t in found) and len(found) == sum(
            len(v) for v in jobs.values()) else None
    found = bed.wait("every target up", targets, timeout=180, interval=5)
    by_job = {}
    for target in found:
        labels = target["labels"]
        assert labels["cluster"] == cluster and labels["role"], labels
        by_job.setdefault(labels["job"], []).append(labels["instance"])
    assert {job: sorted(hosts) for job, hosts in by_job.items()} == jobs


def unexported_metrics(bed, prometheus):
    """The metric names that the served alert rules and the formula's dashboards use and
    that Prometheus holds no series of."""
    # The backup metrics come from a timer; the first run is 5 s after the deploy.
    bed.wait("backup metrics", lambda: query(prometheus, "pgsalt_backup_age_seconds"),
             timeout=120)
    rules = api(prometheus, "/api/v1/rules")["data"]["groups"]
    used = {name for group in rules for rule in group["rules"]
            for name in metric_names(rule["query"])}
    for path in sorted((ROOT / "salt/monitoring/files/dashboards").glob("*.json")):
        for expr in re.findall(r'"expr":\s*"((?:[^"\\]|\\.)*)"', path.read_text()):
            used |= metric_names(json.loads(f'"{expr}"'))
    used -= {"ALERTS"}  # Prometheus's own series, present once an alert fires
    assert len(used) > 60, used
    return used - set(api(prometheus, "/api/v1/label/__name__/values")["data"])
