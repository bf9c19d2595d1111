"""
pgMonitor-style monitoring for a pgsalt cluster: what each exporter listens on, and the
Prometheus and Alertmanager configs of the ``monitor`` host, from the resolved cluster
(``pgsalt.cluster``: pillar, defaults and the Salt mine's addresses). A host added to
pillar is in the scrape config at the monitor host's next highstate.

Monitoring is on for a cluster that has a member with the role ``monitor``.
"""

__virtualname__ = "pgsalt_monitoring"

RULES_DIR = "/etc/prometheus/rules"
# node_exporter's textfile collector (Debian's path): the pgBackRest and drift metrics.
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
# PostgreSQL's and PgBouncer's socket directory (Debian's): the exporters log in over it.
SOCKET_DIR = "/var/run/postgresql"
# Every exporter unit a member may run; a host leaving the cluster stops them all.
EXPORTERS = ("prometheus-node-exporter", "prometheus-postgres-exporter",
             "prometheus-pgbouncer-exporter")


def __virtual__():
    return __virtualname__


def textfile(name):
    """The file node_exporter's textfile collector reads metrics NAME from.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_monitoring.textfile pgsalt_backup
    """
    return f"{TEXTFILE_DIR}/{name}.prom"


def exporter_units():
    """The exporter units monitoring may run on a host, whatever its roles.

    CLI Example:

    .. code-block:: bash

        salt-call pgsalt_monitoring.exporter_units
    """
    return list(EXPORTERS)


def _address(c, member):
    return c["members"][member]["address"]


def listen(c, exporter):
    """The ADDRESS:PORT this host's EXPORTER (a key of ``monitoring:ports``) binds: the
    host's cluster address only, never every interface.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_monitoring.listen "$(...)" node
    """
    return f"{c['my']['address']}:{c['monitoring']['ports'][exporter]}"


def _jobs(c, patroni_scheme):
    """(job, role, members, port, scheme) for every target kind."""
    ports = c["monitoring"]["ports"]
    # A cluster that uses another cluster's etcd does not scrape it: that cluster does.
    own_etcd = [] if c["dcs"].get("cluster") or c["dcs"].get("endpoints") else c["dcs_members"]
    return [
        ("node", "member", sorted(c["members"]), ports["node"], "http"),
        ("postgres", "db", c["db_members"], ports["postgres"], "http"),
        ("patroni", "db", c["db_members"], c["patroni"]["port"], patroni_scheme),
        ("etcd", "dcs", own_etcd, ports["etcd"], "http"),
        ("haproxy", "balancer", c["balancer_members"], ports["haproxy"], "http"),
        ("pgbouncer", "balancer", c["balancer_members"] if c["monitoring"]["pgbouncer_exporter"]
         else [], ports["pgbouncer"], "http"),
        ("prometheus", "monitor", c["monitor_members"], ports["prometheus"], "http"),
        ("alertmanager", "monitor", c["monitor_members"], ports["alertmanager"], "http"),
    ]


def prometheus_config(c, ca_file=None):
    """Prometheus's config for cluster C: one job per exporter kind, each target labelled
    ``cluster``, ``role`` (the member role it serves) and ``instance`` (the minion id);
    Patroni's API over HTTPS verified with CA_FILE (the cluster CA; None with TLS off: plain
    HTTP); the rules in ``RULES_DIR``; the monitor hosts' Alertmanager.

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt_monitoring.prometheus_config "$(...)" /etc/pgsalt/tls/ca.crt
    """
    m = c["monitoring"]
    scrape = []
    for job, role, members, port, scheme in _jobs(c, "https" if ca_file else "http"):
        if not members:
            continue
        entry = {"job_name": job, "scheme": scheme, "static_configs": [
            {"targets": [f"{_address(c, member)}:{port}"],
             "labels": {"cluster": c["name"], "role": role, "instance": member}}
            for member in members]}
        if scheme == "https":
            entry["tls_config"] = {"ca_file": ca_file}
        scrape.append(entry)
    return {
        "global": {"scrape_interval": f"{m['scrape_interval']}s",
                   "evaluation_interval": f"{m['evaluation_interval']}s"},
        "rule_files": [f"{RULES_DIR}/*.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [
            f"{_address(c, member)}:{m['ports']['alertmanager']}"
            for member in c["monitor_members"]]}]}]},
        "scrape_configs": scrape,
    }


def alertmanager_config(c):
    """Alertmanager's config: alerts grouped by cluster and alert name, sent to
    ``monitoring:webhook_url`` when pillar sets one (else kept in Alertmanager's API).

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt_monitoring.alertmanager_config "$(...)"
    """
    receiver = {"name": "pgsalt"}
    if c["monitoring"].get("webhook_url"):
        receiver["webhook_configs"] = [{"url": c["monitoring"]["webhook_url"],
                                        "send_resolved": True}]
    return {
        "route": {"receiver": "pgsalt", "group_by": ["cluster", "alertname"],
                  "group_wait": "10s", "group_interval": "1m", "repeat_interval": "4h"},
        "receivers": [receiver],
        # A critical alert silences the warning of its pair (rules sets alertgroup on both).
        "inhibit_rules": [{"source_matchers": ["severity = critical"],
                           "target_matchers": ["severity = warning", 'alertgroup =~ ".+"'],
                           "equal": ["cluster", "instance", "alertgroup"]}],
    }


def exporter_args(c):
    """The command-line arguments of this host's exporters (Debian's ARGS variable), by
    package: every exporter binds the host's cluster address. No secrets: the exporters
    log in over the local socket by peer authentication.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_monitoring.exporter_args "$(...)"
    """
    roles = c["my"]["roles"]
    args = {"prometheus-node-exporter": [
        f"--web.listen-address={listen(c, 'node')}",
        f"--collector.textfile.directory={TEXTFILE_DIR}"]}
    if "db" in roles:
        args["prometheus-postgres-exporter"] = [
            f"--web.listen-address={listen(c, 'postgres')}",
            "--extend.query-path=/etc/prometheus/pgsalt-queries.yaml"]
    if "balancer" in roles and c["monitoring"]["pgbouncer_exporter"]:
        args["prometheus-pgbouncer-exporter"] = [
            f"--web.listen-address={listen(c, 'pgbouncer')}",
            f"--pgBouncer.connectionString=postgres://prometheus@:{c['pgbouncer']['port']}"
            f"/pgbouncer?host={SOCKET_DIR}&sslmode=disable"]
    return {pkg: " ".join(values) for pkg, values in args.items()}


def postgres_dsn(c):
    """postgres_exporter's connection: the local socket, as the OS user prometheus (peer).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_monitoring.postgres_dsn "$(...)"
    """
    return (f"host={SOCKET_DIR} port={c['postgresql']['port']} user=prometheus "
            "dbname=postgres sslmode=disable")


def _rule(name, expr, wait, severity, summary, **labels):
    rule = {"alert": name, "expr": expr, "labels": {"severity": severity, **labels},
            "annotations": {"summary": summary}}
    if wait:
        rule["for"] = f"{wait}s"
    return rule


def rules(c):
    """The alert rules (Prometheus's rule file as a dict): pgMonitor's set with its
    thresholds from ``monitoring:alerts``, plus Patroni, etcd, PgBouncer, HAProxy and node
    rules. Every alert carries ``cluster`` and ``instance`` (or ``cluster`` alone for a
    cluster-wide one) and a ``severity`` of warning or critical.

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt_monitoring.rules "$(...)"
    """
    a = c["monitoring"]["alerts"]
    on = "{{ $labels.instance }} ({{ $labels.cluster }})"
    fs = 'fstype!~"tmpfs|ramfs|overlay|squashfs|nsfs"'
    used = (f'100 * (1 - node_filesystem_avail_bytes{{{fs}}} / '
            f'node_filesystem_size_bytes{{{fs}}})')
    connections = "100 * pgsalt_connections_total / pgsalt_connections_max"
    # Down for down_for seconds counts from the last sample that said up, not from the first
    # evaluation that saw a failed scrape (what `for` would do): a host that dies just after
    # a scrape is alerted on down_for later, plus at most one evaluation interval.
    down = f"[{a['down_for']}s]) == 0"
    found = [
        _rule("PGDown", f'max_over_time(pg_up{down} or max_over_time(up{{job="postgres"}}{down}',
              0, "critical", f"PostgreSQL on {on} is down or not answering its exporter"),
        _rule("PGReplicaNotStreaming", "pgsalt_recovery_in_recovery == 1 and on (cluster, "
              "instance) pgsalt_recovery_wal_receiver_streaming == 0",
              a["replica_not_streaming_for"], "critical",
              f"the standby {on} does not stream WAL"),
        _rule("PGArchiveFailing", "pgsalt_archive_failing == 1", a["archive_failing_for"],
              "critical", f"WAL archiving fails on {on}"),
        _rule("PGIdleInTransaction", "pgsalt_connections_max_idle_in_transaction_seconds > "
              f"{a['idle_in_transaction_seconds']}", 60, "warning",
              f"a session on {on} is idle in a transaction for "
              "{{ $value | humanizeDuration }}"),
        _rule("PGPendingRestart", "pgsalt_settings_pending_restart > 0", 300, "warning",
              f"{on} has settings that wait for a restart (orch.config rolls them)"),
        _rule("PGBackupFullTooOld", 'pgsalt_backup_age_seconds{type="full"} > '
              f"{a['full_backup_max_age']}", 0, "critical",
              "the last full backup of {{ $labels.stanza }} is "
              "{{ $value | humanizeDuration }} old"),
        _rule("PatroniNoLeader", "max by (cluster) (patroni_cluster_unlocked) == 1", 30,
              "critical", "Patroni holds no leader lock in cluster {{ $labels.cluster }}"),
        _rule("PatroniPaused", "patroni_is_paused == 1", 300, "warning",
              "Patroni is paused in cluster {{ $labels.cluster }}: no automatic failover"),
        # The value is the timeline now: the alert says which switch it is about.
        _rule("PatroniTimelineSwitch", "patroni_postgres_timeline and changes("
              f"patroni_postgres_timeline[{a['timeline_switch_window']}s]) > 0", 0, "warning",
              f"{on} is on timeline {{{{ $value }}}} after a failover or switchover"),
        _rule("EtcdNoLeader", "etcd_server_has_leader == 0", 60, "critical",
              f"etcd on {on} has no leader"),
        _rule("EtcdEvenMembers", 'count by (cluster) (up{job="etcd"} == 1) % 2 == 0', 300,
              "warning", "{{ $labels.cluster }} has an even number of live etcd members"),
        _rule("TargetDown", f'max_over_time(up{{job!="postgres"}}{down}', 0, "warning",
              f"{{{{ $labels.job }}}} on {on} does not answer Prometheus"),
        _rule("NodeMemoryLow", "100 * node_memory_MemAvailable_bytes / "
              f"node_memory_MemTotal_bytes < {a['memory_available_percent']}", 300, "warning",
              f"{on} has {{{{ $value | printf \"%.1f\" }}}}% of its memory available"),
        _rule("NodeLoadHigh", "node_load5 / on (cluster, instance) group_left count by "
              '(cluster, instance) (node_cpu_seconds_total{mode="idle"}) > '
              f"{a['load_per_cpu']}", 600, "warning",
              f"{on} has a load of {{{{ $value | printf \"%.2f\" }}}} per CPU"),
    ]
    # Warning and critical pairs: a critical alert silences its warning (alertmanager).
    for name, expr, key, wait, what in (
            ("PGReplicationLag", "pgsalt_replication_lag_bytes", "replication_lag_*_bytes", 60,
             "the standby {{ $labels.application_name }} lags {{ $value | humanize1024 }}B"),
            ("PGConnections", connections, "connections_*_percent", 60,
             '{{ $value | printf "%.1f" }}% of max_connections in use'),
            ("PGXIDWraparound", "pgsalt_xid_wraparound_percent", "xid_wraparound_*_percent", 300,
             '{{ $value | printf "%.1f" }}% of the way to XID wraparound'),
            ("NodeDisk", used, "disk_used_*_percent", 300,
             '{{ $labels.mountpoint }} is {{ $value | printf "%.1f" }}% full')):
        for severity in ("warning", "critical"):
            limit = a[key.replace("*", severity)]
            found.append(_rule(f"{name}{severity.title()}", f"{expr} > {limit}", wait,
                               severity, f"{on}: {what}", alertgroup=name))
    if c["monitoring"]["pgbouncer_exporter"]:
        found.append(_rule("PgBouncerDown", "pgbouncer_up == 0", 60, "critical",
                           f"PgBouncer on {on} is down"))
    if not c.get("standby_endpoint"):
        # A standby cluster has no primary of its own, by design.
        found += [
            _rule("PGNoPrimary", 'count by (cluster) (up{job="patroni"}) unless on (cluster) '
                  "(patroni_primary == 1)", a["down_for"], "critical",
                  "no PostgreSQL primary in cluster {{ $labels.cluster }}"),
            _rule("HAProxyNoPrimary", "haproxy_backend_active_servers"
                  '{proxy="postgres_primary"} == 0', 30, "critical",
                  f"HAProxy on {on} has no primary to route writes to")]
    drift = c["heal"]
    if drift.get("enabled") is True and drift["drift"].get("interval"):
        # pgsalt_drift.check writes the count at every scheduled check.
        found.append(_rule("SaltDrift", "pgsalt_drift_states > 0", 0, "warning",
                           f"{{{{ $value }}}} state(s) of {on} drifted from pillar"))
    if c["pgbackrest"].get("enabled") is True:
        found += [
            _rule("PGBackupMissing", "absent(pgsalt_backup_age_seconds{type=\"full\","
                  f"cluster=\"{c['name']}\"}})", 1800, "critical",
                  f"no full backup of cluster {c['name']} is known"),
            # node_exporter serves the last file for ever: a stopped timer freezes the age.
            _rule("PGBackupMetricsStale", "time() - node_textfile_mtime_seconds"
                  '{file=~".*pgsalt_backup.prom"} > 1800', 0, "warning",
                  f"the backup metrics of {on} were not refreshed for "
                  "{{ $value | humanizeDuration }}")]
    return {"groups": [{"name": "pgsalt", "rules": found}]}
