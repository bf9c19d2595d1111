"""Unit tests of the monitoring: _modules/pgsalt_monitoring.py over clusters resolved by the real
_modules/pgsalt.py (shipped pillar, real defaults, a faked mine), the postgres_exporter queries
file and the pgBackRest metrics script of salt/monitoring/files/."""

import importlib.machinery
import importlib.util
import json
import os
import re
import shlex
import subprocess
import urllib.parse
from unittest.mock import patch

import loaders
import pgsalt_model
import pytest
import yaml

pytestmark = pytest.mark.unit

execmod = loaders.load("pgsalt_execmod_for_monitoring", "_modules/pgsalt.py")
monitoring = loaders.load("pgsalt_monitoring_under_test", "_modules/pgsalt_monitoring.py")

FILES = loaders.ROOT / "salt/monitoring/files"
CA = "/etc/pgsalt/tls/ca.crt"
# job: (role label, port), with the defaults of salt/monitoring/defaults.yaml and Patroni's
PORTS = {"node": ("member", 9100), "postgres": ("db", 9187), "patroni": ("db", 8008),
         "etcd": ("dcs", 2381), "haproxy": ("balancer", 8405), "pgbouncer": ("balancer", 9127),
         "prometheus": ("monitor", 9090), "alertmanager": ("monitor", 9093)}
DEMO_MEMBERS = {"member": ["pg1", "pg2", "pg3", "pg4"], "db": ["pg1", "pg2", "pg3"],
                "dcs": ["pg1", "pg2", "pg3"], "balancer": ["pg1", "pg2", "pg3"],
                "monitor": ["pg4"]}
ADDRESS = {f"pg{i}": f"10.77.0.{10 + i}" for i in (1, 2, 3, 4, 5, 6)}


def monitored(pillar=None):
    """The shipped pillar (or PILLAR) with pg4 the demo's repository and monitor host."""
    pillar = loaders.shipped_pillar() if pillar is None else pillar
    pillar["pgsalt"]["clusters"]["demo"]["members"]["pg4"]["roles"] = ["backup", "monitor"]
    return pillar


def unmonitored():
    """The shipped pillar with no monitor host in any cluster."""
    pillar = loaders.shipped_pillar()
    for spec in pillar["pgsalt"]["clusters"].values():
        for member in spec["members"].values():
            member["roles"] = [role for role in member["roles"] if role != "monitor"]
    return pillar


def cluster_of(minion, pillar, osfinger="Debian-13"):
    """The cluster as pgsalt.cluster resolves it on MINION (what map.jinja passes the SLS)."""
    with patch.multiple(execmod, create=True,
                        **loaders.minion_globals(minion, osfinger, pillar)):
        return execmod.cluster(loaders.defaults())


def _insecure_lab(pillar, name="demo"):
    pillar["pgsalt"]["clusters"][name].update(insecure_lab=True, tls={"enabled": False})
    return pillar


def _jobs(config):
    return {job["job_name"]: job for job in config["scrape_configs"]}


def _targets(job):
    """{instance: (target, labels)} of a job; one target per static config."""
    found = {}
    for static in job["static_configs"]:
        (target,) = static["targets"]
        found[static["labels"]["instance"]] = (target, static["labels"])
    return found


# --------------------------------------------------------------------------
# Prometheus's and Alertmanager's configs
# --------------------------------------------------------------------------


def test_prometheus_config_scrapes_every_service_of_every_member():
    c = cluster_of("pg4", monitored())
    assert c["monitor_members"] == ["pg4"]
    config = monitoring.prometheus_config(c, CA)
    jobs = _jobs(config)
    assert list(jobs) == list(PORTS)
    for name, job in jobs.items():
        role, port = PORTS[name]
        targets = _targets(job)
        assert sorted(targets) == DEMO_MEMBERS[role], name
        for member, (target, labels) in targets.items():
            assert target == f"{ADDRESS[member]}:{port}"
            assert labels == {"cluster": "demo", "role": role, "instance": member}
        # Patroni's REST API speaks TLS: Prometheus verifies it against the cluster CA
        if name == "patroni":
            assert (job["scheme"], job["tls_config"]) == ("https", {"ca_file": CA})
        else:
            assert job["scheme"] == "http" and "tls_config" not in job, name
    assert config["alerting"] == {"alertmanagers": [{"static_configs": [
        {"targets": ["10.77.0.14:9093"]}]}]}
    assert config["rule_files"] == [f"{monitoring.RULES_DIR}/*.yml"]
    assert config["global"] == {"scrape_interval": "15s", "evaluation_interval": "15s"}
    # what the server SLS writes is plain YAML (no Python objects), and so is its rule file
    for produced in (config, monitoring.rules(c), monitoring.alertmanager_config(c)):
        assert yaml.safe_load(yaml.safe_dump(produced)) == produced


def test_prometheus_config_with_tls_off_scrapes_patroni_over_http():
    c = cluster_of("pg4", _insecure_lab(monitored()))
    jobs = _jobs(monitoring.prometheus_config(c, None))
    assert jobs["patroni"]["scheme"] == "http"
    assert not [name for name, job in jobs.items() if "tls_config" in job]
    assert _targets(jobs["patroni"])["pg1"][0] == "10.77.0.11:8008"


def test_prometheus_config_of_a_cluster_on_another_clusters_etcd():
    """second uses demo's etcd: demo's monitor scrapes it, second's does not."""
    pillar = monitored()
    second = pillar["pgsalt"]["clusters"]["second"]
    second["members"]["pg5"]["roles"] = ["db", "balancer", "monitor"]
    second["monitoring"] = {"ports": {"node": 19100, "prometheus": 19090},
                            "scrape_interval": 30}
    c = cluster_of("pg5", pillar)
    config = monitoring.prometheus_config(c, CA)
    jobs = _jobs(config)
    assert "etcd" not in jobs
    assert list(jobs) == [job for job in PORTS if job != "etcd"]
    assert {name: sorted(_targets(job)) for name, job in jobs.items()} == {
        name: ["pg5"] for name in jobs}
    # pillar's ports and interval, both in the scrape config and where the exporters listen
    assert _targets(jobs["node"])["pg5"][0] == "10.77.0.15:19100"
    assert _targets(jobs["prometheus"])["pg5"][0] == "10.77.0.15:19090"
    assert monitoring.listen(c, "node") == "10.77.0.15:19100"
    assert config["global"]["scrape_interval"] == "30s"
    assert {labels["cluster"] for job in jobs.values()
            for _, labels in _targets(job).values()} == {"second"}
    # demo's own monitor still scrapes the etcd members that second uses
    assert sorted(_targets(_jobs(monitoring.prometheus_config(
        cluster_of("pg4", pillar), CA))["etcd"])) == ["pg1", "pg2", "pg3"]


def test_monitoring_is_off_without_a_monitor_host():
    pillar = unmonitored()
    assert not cluster_of("pg1", pillar)["monitor_members"]
    # what orch.deploy follows: no monitoring step without a monitor host
    clusters = pillar["pgsalt"]["clusters"]
    assert pgsalt_model.plan(clusters, "demo", loaders.defaults(),
                             loaders.KNOWN_MINIONS)["monitor"] == []
    plan = pgsalt_model.plan(monitored(pillar)["pgsalt"]["clusters"], "demo",
                             loaders.defaults(), loaders.KNOWN_MINIONS)
    assert (plan["errors"], plan["monitor"]) == ([], ["pg4"])


def test_alertmanager_config_sends_to_the_webhook_only_when_pillar_names_one():
    pillar = monitored()
    quiet = monitoring.alertmanager_config(cluster_of("pg4", pillar))
    assert quiet["receivers"] == [{"name": "pgsalt"}]
    url = "https://hooks.example.net/pgsalt"
    pillar["pgsalt"]["clusters"]["demo"]["monitoring"] = {"webhook_url": url}
    config = monitoring.alertmanager_config(cluster_of("pg4", pillar))
    assert config["receivers"] == [{"name": "pgsalt", "webhook_configs": [
        {"url": url, "send_resolved": True}]}]
    for produced in (quiet, config):
        route = produced["route"]
        assert route["receiver"] in {r["name"] for r in produced["receivers"]}
        assert route["group_by"] == ["cluster", "alertname"]
        (inhibit,) = produced["inhibit_rules"]
        assert inhibit["source_matchers"] == ["severity = critical"]
        assert inhibit["target_matchers"] == ["severity = warning", 'alertgroup =~ ".+"']


def test_a_critical_alert_inhibits_its_own_warning():
    c = cluster_of("pg4", monitored())
    (inhibit,) = monitoring.alertmanager_config(c)["inhibit_rules"]
    # a pair: one expression, a warning and a critical threshold
    pairs = {}
    for rule in _rules(c):
        if ">" in rule["expr"]:
            pairs.setdefault(rule["expr"].rsplit(">", 1)[0], {})[
                rule["labels"]["severity"]] = rule
    pairs = [p for p in pairs.values() if set(p) == {"warning", "critical"}]
    assert len(pairs) >= 4
    for pair in pairs:
        # what Alertmanager compares besides the series' own cluster and instance: the
        # rule's labels and the alert's name
        labels = [{**rule["labels"], "alertname": rule["alert"]} for rule in pair.values()]
        assert all(labels[0].get(key) == labels[1].get(key) for key in inhibit["equal"]
                   if key not in ("cluster", "instance")), sorted(
            rule["alert"] for rule in pair.values())


# --------------------------------------------------------------------------
# exporters
# --------------------------------------------------------------------------


def _args(value):
    """An ARGS string as {--flag: value}."""
    return dict(arg.split("=", 1) for arg in shlex.split(value))


@pytest.mark.parametrize(("minion", "packages"), [
    ("pg1", ["prometheus-node-exporter", "prometheus-pgbouncer-exporter",
             "prometheus-postgres-exporter"]),
    ("pg3", ["prometheus-node-exporter", "prometheus-pgbouncer-exporter"]),
    ("pg4", ["prometheus-node-exporter"]),
])
def test_exporters_by_role_listen_on_the_hosts_cluster_address(minion, packages):
    pillar = monitored()
    # pg3 runs no PostgreSQL here: a balancer alone
    pillar["pgsalt"]["clusters"]["demo"]["members"]["pg3"]["roles"] = ["dcs", "balancer"]
    c = cluster_of(minion, pillar)
    found = monitoring.exporter_args(c)
    assert sorted(found) == packages
    assert set(found) <= set(monitoring.exporter_units())  # what orch.remove_node stops
    ports = {"prometheus-node-exporter": 9100, "prometheus-postgres-exporter": 9187,
             "prometheus-pgbouncer-exporter": 9127}
    for pkg, value in found.items():
        args = _args(value)
        # the cluster address only: never every interface, never an empty host
        assert args["--web.listen-address"] == f"{ADDRESS[minion]}:{ports[pkg]}", pkg
        assert "0.0.0.0" not in value and "=:" not in value
    assert _args(found["prometheus-node-exporter"])["--collector.textfile.directory"] == (
        monitoring.textfile("any").rsplit("/", 1)[0])
    if "prometheus-postgres-exporter" in found:
        assert _args(found["prometheus-postgres-exporter"])["--extend.query-path"] == (
            "/etc/prometheus/pgsalt-queries.yaml")
    if "prometheus-pgbouncer-exporter" in found:
        dsn = urllib.parse.urlsplit(
            _args(found["prometheus-pgbouncer-exporter"])["--pgBouncer.connectionString"])
        # the console over PgBouncer's socket as prometheus (peer): no password
        assert (dsn.scheme, dsn.username, dsn.password, dsn.port, dsn.path) == (
            "postgres", "prometheus", None, 6432, "/pgbouncer")
        assert urllib.parse.parse_qs(dsn.query) == {
            "host": ["/var/run/postgresql"], "sslmode": ["disable"]}
    text = json.dumps(found) + monitoring.postgres_dsn(c)
    assert [secret for secret in loaders.passwords(pillar) if secret in text] == []


def _hba_file(relpath):
    return [line.split() for line in (loaders.ROOT / relpath).read_text().splitlines()
            if line.strip() and not line.startswith("#")]


def test_exporters_log_in_where_the_servers_let_them_by_peer():
    """postgres_exporter's DSN and pgbouncer_exporter's connection string name the database
    and user that the first matching line of each server's pg_hba lets in by peer."""
    c = cluster_of("pg1", monitored())
    dsn = dict(pair.split("=", 1) for pair in monitoring.postgres_dsn(c).split())
    assert dsn == {"host": "/var/run/postgresql", "port": "5432", "user": "prometheus",
                   "dbname": "postgres", "sslmode": "disable"}
    hba = [line.split() for line in execmod.patroni_config(c)["postgresql"]["pg_hba"]]
    local = [fields for fields in hba if fields[0] == "local"]
    first = next(fields for fields in local if fields[1] in ("all", dsn["dbname"])
                 and fields[2] in ("all", dsn["user"]))
    assert first == ["local", "postgres", "prometheus", "peer"]
    # PgBouncer's console: its hba and stats_users
    pgbouncer = _hba_file("salt/pgbouncer/files/pg_hba.conf")
    first = next(fields for fields in pgbouncer if fields[0] == "local"
                 and fields[1] in ("all", "pgbouncer") and fields[2] in ("all", "prometheus"))
    assert first == ["local", "pgbouncer", "prometheus", "peer"]
    assert ["host", "all", "prometheus", "0.0.0.0/0", "reject"] in pgbouncer
    ini = (loaders.ROOT / "salt/pgbouncer/files/pgbouncer.ini.jinja").read_text()
    (stats,) = re.findall(r"^stats_users = (.*)$", ini, re.M)
    assert "prometheus" in [user.strip() for user in stats.split(",")]
    (admin,) = re.findall(r"^admin_users = (.*)$", ini, re.M)
    assert "prometheus" not in admin
    # no monitor host: PostgreSQL lets no prometheus in
    plain = execmod.patroni_config(cluster_of("pg1", unmonitored()))["postgresql"]["pg_hba"]
    assert not [line for line in plain if "prometheus" in line]


@pytest.mark.parametrize("on", [True, False])
def test_etcd_serves_metrics_where_prometheus_scrapes_them(on):
    pillar = monitored() if on else unmonitored()
    c = cluster_of("pg2", pillar)
    env = dict(execmod.etcd_environment(c))
    assert ("ETCD_LISTEN_METRICS_URLS" in env) == on
    if on:
        (target, _) = _targets(_jobs(monitoring.prometheus_config(c, CA))["etcd"])["pg2"]
        # plain HTTP, the cluster address only: no client certificate needed for /metrics
        assert env["ETCD_LISTEN_METRICS_URLS"] == f"http://{target}"
        assert target == "10.77.0.12:2381"


# --------------------------------------------------------------------------
# alert rules
# --------------------------------------------------------------------------


def _rules(c):
    (group,) = monitoring.rules(c)["groups"]
    return group["rules"]


def test_every_alert_has_a_severity_a_summary_and_a_unique_name():
    rules = _rules(cluster_of("pg4", monitored()))
    names = [rule["alert"] for rule in rules]
    assert len(names) == len(set(names))
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        if "for" in rule:
            assert re.fullmatch(r"[1-9][0-9]*s", rule["for"]), rule["alert"]
        # balanced brackets and quotes: a broken expression would stop Prometheus's reload
        expr = rule["expr"]
        for opening, closing in ("()", "{}", "[]"):
            assert expr.count(opening) == expr.count(closing), rule["alert"]
        assert expr.count('"') % 2 == 0, rule["alert"]
    # warning and critical pairs: the critical threshold is the higher one
    by_name = {rule["alert"]: rule for rule in rules}
    for name in [n for n in by_name if n.endswith("Warning")]:
        critical = by_name[name[: -len("Warning")] + "Critical"]
        limits = [float(by_name[n]["expr"].rsplit(">", 1)[1]) for n in (name, critical["alert"])]
        assert limits[0] < limits[1], name


def test_every_threshold_of_pillar_reaches_its_rule():
    """Each monitoring:alerts setting, given a value of its own in pillar, is in a rule's
    expression or wait; none is left unused and no rule keeps a default instead."""
    defaults = loaders.defaults()["monitoring"]["monitoring"]["alerts"]
    mine = {key: 90001 + i for i, key in enumerate(sorted(defaults))}
    pillar = monitored()
    pillar["pgsalt"]["clusters"]["demo"]["monitoring"] = {"alerts": mine}
    rules = _rules(cluster_of("pg4", pillar))
    used = {int(n) for rule in rules
            for n in re.findall(r"\d+", rule["expr"] + " " + rule.get("for", ""))}
    assert {key for key, value in mine.items() if value not in used} == set()
    by_name = {rule["alert"]: rule for rule in rules}
    window = f"[{mine['down_for']}s]"
    assert by_name["PGDown"]["expr"] == (
        f'max_over_time(pg_up{window}) == 0 or max_over_time(up{{job="postgres"}}{window}) == 0')
    assert "for" not in by_name["PGDown"]
    assert by_name["PGReplicationLagCritical"]["expr"].endswith(
        f"> {mine['replication_lag_critical_bytes']}")
    assert by_name["PatroniTimelineSwitch"]["expr"] == (
        "patroni_postgres_timeline and changes(patroni_postgres_timeline["
        f"{mine['timeline_switch_window']}s]) > 0")
    # the defaults themselves: a default changed by mistake shows here
    shipped = {rule["alert"]: rule for rule in _rules(cluster_of("pg4", monitored()))}
    assert shipped["PGReplicationLagWarning"]["expr"].endswith("> 52428800")
    assert shipped["PGBackupFullTooOld"]["expr"].endswith("> 691200")


def test_cluster_wide_alerts_follow_what_the_cluster_has():
    pillar = monitored()
    rules = {rule["alert"]: rule for rule in _rules(cluster_of("pg4", pillar))}
    assert rules["PGBackupMissing"]["labels"]["severity"] == "critical"
    assert rules["PGBackupMissing"]["expr"] == (
        'absent(pgsalt_backup_age_seconds{type="full",cluster="demo"})')
    assert {"PGBackupMetricsStale", "PGNoPrimary", "HAProxyNoPrimary"} <= set(rules)
    # no backups: nothing to miss
    pillar["pgsalt"]["clusters"]["demo"]["pgbackrest"]["enabled"] = False
    names = {rule["alert"] for rule in _rules(cluster_of("pg4", pillar))}
    assert not {"PGBackupMissing", "PGBackupMetricsStale"} & names
    assert "PGNoPrimary" in names
    # a standby cluster has no primary of its own, and backs nothing up
    pillar = monitored()
    pillar["pgsalt"]["clusters"]["dr"]["members"]["pg6"]["roles"] = ["db", "balancer", "monitor"]
    names = {rule["alert"] for rule in _rules(cluster_of("pg6", pillar))}
    assert not {"PGNoPrimary", "HAProxyNoPrimary", "PGBackupMissing"} & names
    assert {"PGDown", "PGReplicaNotStreaming", "PatroniNoLeader"} <= names
    # Debian 12's balancers run no pgbouncer_exporter: no rule waits on its metric
    pillar = monitored()
    assert "PgBouncerDown" in {r["alert"] for r in _rules(cluster_of("pg4", pillar))}
    names = {r["alert"] for r in _rules(cluster_of("pg4", pillar, osfinger="Debian-12"))}
    assert "PgBouncerDown" not in names and "PGDown" in names


# --------------------------------------------------------------------------
# postgres_exporter's queries and the pgBackRest metrics: every pgsalt_ metric a rule uses
# --------------------------------------------------------------------------

USAGES = {"LABEL", "GAUGE", "COUNTER"}


def _queries():
    return yaml.safe_load((FILES / "pgsalt-queries.yaml").read_text(encoding="utf-8"))


def test_queries_file_is_postgres_exporters_format():
    queries = _queries()
    assert queries
    for namespace, spec in queries.items():
        assert re.fullmatch(r"pgsalt_[a-z_]+", namespace)
        assert set(spec) == {"query", "metrics"}, namespace
        query = spec["query"]
        for entry in spec["metrics"]:
            ((column, meta),) = entry.items()
            assert meta["usage"] in USAGES and meta["description"], (namespace, column)
            # every column the file declares is one the query returns
            assert re.search(rf"(\bAS {column}\b|^SELECT {column}\b|, {column}\b)", query), (
                namespace, column)
        # a gauge or counter per query: a label alone makes no metric
        assert {next(iter(e.values()))["usage"] for e in spec["metrics"]} - {"LABEL"}


def _load_backup_script():
    path = str(FILES / "pgsalt-backup-metrics")
    loader = importlib.machinery.SourceFileLoader("pgsalt_backup_metrics", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


NOW = 1_800_000_000.0
# pgBackRest's `info --output=json`, trimmed to what the script reads; not in time order
INFO = [
    {"name": "demo", "backup": [
        {"type": "diff", "timestamp": {"start": NOW - 4000, "stop": NOW - 3900},
         "info": {"size": 6100}},
        {"type": "full", "timestamp": {"start": NOW - 90000, "stop": NOW - 89000},
         "info": {"size": 5000}},
        {"type": "incr", "timestamp": {"start": NOW - 600, "stop": NOW - 500},
         "info": {"size": 6200}},
        {"type": "full", "timestamp": {"start": NOW - 10000, "stop": NOW - 9000},
         "info": {"size": 6000}},
    ]},
    # a stanza with no backup yet: no sample, so PGBackupMissing fires
    {"name": "fresh", "backup": []},
]


SAMPLE = re.compile(r'([a-z_]+)\{((?:[a-z_]+="[^"\\]*",?)*)\} (-?[0-9]+(?:\.[0-9]+)?)')


def _samples(text):
    """node_exporter's textfile format: {(name, labels): value}; every metric has HELP and a
    gauge TYPE line before its first sample, and no sample is given twice."""
    found, typed, helped = {}, set(), set()
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind == "gauge" and name not in typed, line
            typed.add(name)
        else:
            match = SAMPLE.fullmatch(line)
            assert match, f"not a sample: {line!r}"
            name, labels, value = match.groups()
            assert name in typed and name in helped, line
            key = (name, tuple(sorted(re.findall(r'([a-z_]+)="([^"]*)"', labels))))
            assert key not in found, line
            found[key] = float(value)
    return found


def test_backup_metrics_script_writes_ages_sizes_and_window_atomically(tmp_path):
    script = _load_backup_script()
    output = tmp_path / "pgsalt_backup.prom"
    output.write_text("stale\n")
    seen = []
    real_replace = os.replace

    def replace(src, dst):
        # the file node_exporter reads is whole at any time: complete before it is renamed
        seen.append((os.path.basename(src), os.path.basename(dst), output.read_text(),
                     open(src).read(), oct(os.stat(src).st_mode & 0o777)))
        real_replace(src, dst)

    completed = subprocess.CompletedProcess([], 0, stdout=json.dumps(INFO), stderr="")
    with patch.object(script.subprocess, "run", return_value=completed) as run, \
            patch.object(script.time, "time", return_value=NOW), \
            patch.object(script.os, "replace", replace):
        script.main("demo", str(output))
    args, kwargs = run.call_args
    assert args[0] == ["runuser", "-u", "postgres", "--", "pgbackrest", "--stanza=demo",
                       "--output=json", "info"]
    assert kwargs["check"] is True and kwargs["timeout"] > 0
    ((src, dst, before, written, mode),) = seen
    assert (src, dst) == ("pgsalt_backup.prom.tmp", "pgsalt_backup.prom")
    assert before == "stale\n" and mode == "0o644"
    text = output.read_text()
    assert text == written and text.endswith("\n")
    assert [p.name for p in tmp_path.iterdir()] == ["pgsalt_backup.prom"]

    def key(name, **labels):
        return (name, tuple(sorted(labels.items())))

    assert _samples(text) == {
        # the newest backup of each type, not the older full
        key("pgsalt_backup_age_seconds", stanza="demo", type="full"): 9000,
        key("pgsalt_backup_size_bytes", stanza="demo", type="full"): 6000,
        key("pgsalt_backup_age_seconds", stanza="demo", type="diff"): 3900,
        key("pgsalt_backup_size_bytes", stanza="demo", type="diff"): 6100,
        key("pgsalt_backup_age_seconds", stanza="demo", type="incr"): 500,
        key("pgsalt_backup_size_bytes", stanza="demo", type="incr"): 6200,
        # PITR reaches back to the oldest backup kept
        key("pgsalt_backup_recovery_window_seconds", stanza="demo"): 89000,
    }


def test_backup_metrics_script_leaves_the_last_file_when_pgbackrest_fails(tmp_path):
    script = _load_backup_script()
    output = tmp_path / "pgsalt_backup.prom"
    output.write_text("previous\n")
    failed = subprocess.CalledProcessError(1, ["pgbackrest"], stderr="no repository")
    with patch.object(script.subprocess, "run", side_effect=failed), \
            pytest.raises(subprocess.CalledProcessError):
        script.main("demo", str(output))
    assert output.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir()] == ["pgsalt_backup.prom"]


def test_every_pgsalt_metric_of_the_rules_is_produced():
    """A rule on a metric nothing exports would never fire: each pgsalt_* name the rules use
    is a QUERY_COLUMN of the queries file (no LABEL column) or one the backup script writes."""
    produced = set()
    labels = set()
    for namespace, spec in _queries().items():
        for entry in spec["metrics"]:
            ((column, meta),) = entry.items()
            if meta["usage"] == "LABEL":
                labels.add(column)
            else:
                produced.add(f"{namespace}_{column}")
    script = (FILES / "pgsalt-backup-metrics").read_text(encoding="utf-8")
    backup = set(re.findall(r'"(pgsalt_backup_\w+)":', script))
    assert backup == {"pgsalt_backup_age_seconds", "pgsalt_backup_size_bytes",
                      "pgsalt_backup_recovery_window_seconds"}
    produced |= backup
    labels |= {"stanza", "type"}
    pillar = monitored()
    used, referenced = set(), set()
    for rule in _rules(cluster_of("pg4", pillar)):
        # metric names, not label values (a file name may look like one)
        used |= set(re.findall(r"\bpgsalt_\w+", re.sub(r'"[^"]*"', '""', rule["expr"])))
        referenced |= set(re.findall(r"\$labels\.(\w+)", rule["annotations"]["summary"]))
    assert used, "no rule on the formula's own metrics"
    assert used - produced == set()
    # the labels summaries print: Prometheus's target labels, the queries' and the backup
    # script's labels, node_exporter's mountpoint
    assert referenced - (labels | {"cluster", "instance", "role", "job", "mountpoint"}) == set()
    # the recovery and archiving queries back the primary/standby alerts
    assert {"pgsalt_recovery_in_recovery", "pgsalt_archive_failing",
            "pgsalt_replication_lag_bytes"} <= used



def test_every_alert_fires_and_stays_quiet_in_a_promtool_case():
    """tests/promtool/pgsalt-rules.test.yml (run by promtool on the monitor host in the e2e
    tests) covers each rule the demo cluster gets: a case where it fires, one where not."""
    cases = yaml.safe_load((loaders.ROOT / "tests/promtool/pgsalt-rules.test.yml").read_text())
    firing, quiet = set(), set()
    for test in cases["tests"]:
        for case in test.get("alert_rule_test", []):
            (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    alerts = {rule["alert"] for rule in _rules(cluster_of("pg4", monitored()))}
    assert not alerts - firing and not alerts - quiet, (alerts - firing, alerts - quiet)


def test_drift_becomes_an_alert_when_drift_detection_runs():
    """heal's drift check writes pgsalt_drift_states for node_exporter; the rule exists only
    where the check is scheduled (heal:enabled and heal:drift:interval)."""
    assert "SaltDrift" not in {r["alert"] for r in _rules(cluster_of("pg4", monitored()))}
    pillar = monitored()
    pillar["pgsalt"]["clusters"]["demo"]["heal"] = {"enabled": True, "drift": {"interval": 5}}
    (rule,) = [r for r in _rules(cluster_of("pg4", pillar)) if r["alert"] == "SaltDrift"]
    assert rule["expr"] == "pgsalt_drift_states > 0"
    drift = (loaders.ROOT / "_modules/pgsalt_drift.py").read_text(encoding="utf-8")
    assert "pgsalt_drift_states {count}" in drift
