"""The cluster as this minion sees it, and the configs the formula's templates render.

``pgsalt/map.jinja`` asks :func:`cluster` for the resolved cluster (pillar over each
component's ``defaults.yaml``); every decision about what a config holds is made here, in
Python, so that the templates only print what they are given.
"""

import copy
import json
import os
import shlex
import shutil
import sys

import salt.utils.files
import salt.utils.yaml
from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt"


def __virtual__():
    return __virtualname__


def _model():
    return __utils__["pgsalt_model.resolve"], __utils__["pgsalt_model.find_cluster"]


def defaults(saltenv="base"):
    """Every component's ``defaults.yaml`` from the Salt file server, keyed by component.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.defaults
    """
    # Every SLS of a run imports map.jinja; each file fetch is a request to the master.
    # The process id keeps a job (a process of its own) from reading a parent's older copy.
    key = f"pgsalt.defaults:{os.getpid()}:{saltenv}"
    if key not in __context__:
        out = {}
        for name, url in __utils__["pgsalt_model.defaults_files"]().items():
            path = __salt__["cp.cache_file"](url, saltenv)
            if not path:
                raise CommandExecutionError(f"{url} is not on the Salt file server")
            with salt.utils.files.fopen(path, encoding="utf-8") as fh:
                out[name] = salt.utils.yaml.safe_load(fh)
        __context__[key] = out
    return copy.deepcopy(__context__[key])


def cluster(component_defaults=None, name=None):
    """The resolved cluster this minion is a member of (or NAME), or {} when there is none.

    COMPONENT_DEFAULTS are :func:`defaults` unless given. Addresses of the members come
    from the Salt mine (``network.ip_addrs``).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.cluster
    """
    resolve, find_cluster = _model()
    clusters = __pillar__.get("pgsalt", {}).get("clusters", {})
    name = name or find_cluster(clusters, __grains__["id"])
    if not name or name not in clusters:
        return {}
    if component_defaults is None:
        component_defaults = defaults()
    # Every SLS imports map.jinja, so a run renders this a dozen times or more; each
    # mine.get is a request to the master. Pillar and mine stay put during a render.
    key = "pgsalt.cluster:" + json.dumps([name, component_defaults, clusters], sort_keys=True,
                                         default=str)
    if key not in __context__:
        __context__[key] = _resolved(resolve, name, clusters, component_defaults)
    return copy.deepcopy(__context__[key])


def _resolved(resolve, name, clusters, defaults):
    addresses = dict(__salt__["mine.get"]("*", "network.ip_addrs") or {})
    addresses.setdefault(__grains__["id"], __salt__["network.ip_addrs"]())
    resolved = resolve(name, clusters, defaults, __grains__.get("osfinger"), addresses)
    if resolved.get("unaddressed"):
        # A config rendered without them would bootstrap a smaller etcd or route nowhere.
        raise CommandExecutionError(
            f"cluster {name}: no address for {', '.join(resolved['unaddressed'])} in the "
            "Salt mine; run mine.update on them (orch.deploy does) or set members:ID:address"
        )
    me = __grains__["id"]
    resolved["me"] = me
    resolved["my"] = resolved["members"].get(me, {"roles": [], "address": None})
    return resolved


def cluster_of(clusters, minion):
    """The name of the cluster in CLUSTERS that lists MINION as a member, or None.

    CLI Example:

    .. code-block:: bash

        salt-call pgsalt.cluster_of "$(salt-call --out=json pillar.get pgsalt:clusters)" pg3
    """
    return __utils__["pgsalt_model.find_cluster"](clusters, minion) if minion else None


def heal_units(c):
    """The systemd units this member runs for its roles in resolved cluster C, which the
    service beacon watches when heal:enabled is on.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.heal_units "$(...)"
    """
    plan = {role: c[f"{role}_members"] for role in ("dcs", "db", "balancer")}
    plan.update(etcd_service=c["etcd"].get("service"), vip=c["vip"].get("address"))
    return __utils__["pgsalt_heal.units"](plan, c["me"])


def phase(c, name):
    """The SLS this host applies in orch.deploy's step NAME (``prepare`` or ``serve``).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.phase "$(...)" serve
    """
    return __utils__["pgsalt_model.phases"](c)[c["me"]][name]


def packages(c):
    """Every package this host's roles need, installed in one apt transaction early in
    orch.deploy (one run per host instead of one per component), and the units Debian
    would start on install with the package's own config: ``{"pkgs", "unstarted"}``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.packages "$(...)"
    """
    sls = set(phase(c, "prepare") + phase(c, "serve"))
    pkgs, unstarted = [], []
    if "etcd" in sls:
        pkgs.append(c["etcd"]["package"])
        unstarted.append(c["etcd"]["service"])
    if "pgbackrest" in sls:
        pkgs += c["pgbackrest"]["packages"]
    if "postgresql" in sls:
        pkgs += ["postgresql-common"] + c["postgresql"]["packages"]
        patroni = c["patroni"]
        pkgs += patroni["packages"] if patroni["source"] == "package" else ["python3-venv"]
    if "haproxy" in sls:
        pkgs += ["haproxy", "pgbouncer"]
        unstarted.append("pgbouncer")
    if "keepalived" in sls:
        pkgs.append("keepalived")
    if "monitoring" in sls:
        exporters = sorted(__salt__["pgsalt_monitoring.exporter_args"](c))
        servers = ["prometheus", "prometheus-alertmanager"] if "monitor" in c["my"]["roles"] \
            else []
        pkgs += exporters + servers
        unstarted += exporters + servers
    return {"pkgs": pkgs, "unstarted": unstarted}


def restore_plan(plan, request=None):
    """Check an orch.restore request against a cluster's plan (``pgsalt_model.restore_plan``).

    CLI Example:

    .. code-block:: bash

        salt-call pgsalt.restore_plan '{...plan...}' '{"type": "time", "target": "..."}'
    """
    return __utils__["pgsalt_model.restore_plan"](plan, request)


def plan(clusters, name=None, defaults=None, known_minions=None):
    """Validate cluster NAME of CLUSTERS and return who does what (see ``pgsalt_model.plan``).

    Orchestrations call it while they render, on the master, with the pillar they see and
    the accepted minion keys, so that a pillar error stops them before any host is touched
    (in ``test=True`` runs too) and no secret travels as a job argument.

    CLI Example:

    .. code-block:: bash

        salt-call pgsalt.plan "$(salt-call --out=json pillar.get pgsalt:clusters)" demo
    """
    found = __utils__["pgsalt_model.plan"](clusters, name, defaults, known_minions)
    errors = found["errors"] or __utils__["pgsalt_pki.own_ca_errors"](found)
    return {"cluster": found["cluster"], "errors": errors} if errors else found


def minion_pip():
    """The pip of the Python that runs this minion, where the formula installs its modules.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.minion_pip
    """
    return os.path.join(os.path.dirname(sys.executable), "pip")


def _salt_call():
    """The salt-call of the Python that runs this minion (a venv, as on the test bed), else
    the one on PATH (Salt's onedir packages link it into /usr/bin)."""
    own = os.path.join(os.path.dirname(sys.executable), "salt-call")
    return own if os.path.isfile(own) else shutil.which("salt-call") or "salt-call"


def _addr(c, member):
    return c["members"][member]["address"]


def patroni_config(c, restore=None):
    """Patroni's YAML config for this member, as a dict. RESTORE (an orch.restore request,
    checked by ``pgsalt_model.restore_plan``) makes a new cluster bootstrap from the
    backup repository, to its target, instead of running initdb. A standby cluster
    bootstraps as a copy of its source (``standby_cluster``), streaming from the source's
    read-write endpoint with the replication user it shares with the source.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.patroni_config "$(salt-call --out=json pgsalt.cluster ...)"
    """
    pg, pt, users = c["postgresql"], c["patroni"], c["users"]
    me, addr = c["me"], c["my"]["address"]
    timing = pt["timing_values"]
    backup = pgbackrest_patroni(c)
    db_addrs = sorted(_addr(c, m) for m in c["db_members"])
    tls = service_tls(c)
    net = "hostssl" if tls else "host"
    repl, rewind = users["replication"]["name"], users["rewind"]["name"]
    hba = ["local all postgres peer map=pgsalt"]
    if c.get("monitor_members"):
        # postgres_exporter logs in over the socket as the OS user prometheus (pg_monitor).
        hba += ["local postgres prometheus peer"]
    hba += ["local all all scram-sha-256",
           # Patroni asks its own server for the timeline over a replication connection to
           # localhost; without it an old primary cannot decide to rewind and stays diverged.
           f"host replication {repl} 127.0.0.1/32 scram-sha-256"]
    hba += [f"{net} replication {repl} {a}/32 scram-sha-256" for a in db_addrs]
    # Standby clusters of this one stream through its HAProxy rw port; PostgreSQL sees the
    # balancer's own address (see pgsalt_model.resolve). Balancers on db hosts are covered.
    hba += [f"{net} replication {repl} {a}/32 scram-sha-256"
            for a in c.get("standby_clients", []) if a not in db_addrs]
    hba += [f"{net} all {rewind} {a}/32 scram-sha-256" for a in db_addrs]
    hba += ["host all all 127.0.0.1/32 scram-sha-256",
            # The cluster's own users come from the cluster's hosts only (above).
            f"host all {repl},{rewind} 0.0.0.0/0 reject"]
    network = c.get("network")
    hba += [f"{net} all all {network} scram-sha-256"] if network else [
        f"{net} all all {_addr(c, m)}/32 scram-sha-256" for m in sorted(c["members"])]
    hba += list(pg.get("pg_hba") or [])

    def auth(key):
        return {"username": users[key]["name"], "password": users[key]["password"]}

    bootstrap = {
        "dcs": {
            "ttl": timing["ttl"], "loop_wait": timing["loop_wait"],
            "retry_timeout": timing["retry_timeout"],
            "maximum_lag_on_failover": pt["maximum_lag_on_failover"],
            "primary_start_timeout": pt["primary_start_timeout"],
            "synchronous_mode": pt["synchronous_mode"],
            "synchronous_mode_strict": pt["synchronous_mode_strict"],
            "failsafe_mode": pt["failsafe_mode"],
            "postgresql": {"use_pg_rewind": pt["use_pg_rewind"], "use_slots": True,
                           "parameters": dict(pg["parameters"])},
        },
        "initdb": [{"encoding": "UTF8"}, {"locale": "C.UTF-8"}, "data-checksums"],
    }
    standby = c.get("standby_endpoint")
    if standby:
        # Read at bootstrap only: the first member clones the source through its rw endpoint
        # and leads as standby leader; orch.promote_standby removes the key from the DCS.
        bootstrap["dcs"]["standby_cluster"] = {
            "host": standby["host"], "port": standby["port"],
            "create_replica_methods": ["basebackup"]}
    if restore:
        command = __utils__["pgsalt_model.restore_command"](c["scope"], restore)
        # pgBackRest writes the recovery settings (target, promote); Patroni keeps them.
        bootstrap.update(method="pgsalt_restore", pgsalt_restore={
            "command": shlex.join(command), "keep_existing_recovery_conf": True,
            "no_params": True})
    restapi = {"listen": f"{addr}:{pt['port']}", "connect_address": f"{addr}:{pt['port']}",
               # Reads stay open (HAProxy's checks); switchover, restart, reinit, config and
               # the other unsafe endpoints need these credentials.
               "authentication": auth("rest_api")}
    if tls:
        restapi.update(certfile=tls["cert"], keyfile=tls["key"], cafile=tls["ca"])
    return {
        "scope": c["scope"],
        "namespace": c["namespace"],
        "name": me,
        **({"ctl": {"cacert": tls["ca"]}} if tls else {}),
        "log": {"level": "INFO"},
        "restapi": restapi,
        "etcd3": _patroni_etcd(c, tls),
        "bootstrap": bootstrap,
        "postgresql": {
            "listen": f"{addr},127.0.0.1:{pg['port']}",
            "connect_address": f"{addr}:{pg['port']}",
            "data_dir": pg["data_dir"],
            "bin_dir": pg["bin_dir"],
            "pgpass": "/var/lib/postgresql/.pgpass.patroni",
            "authentication": {"superuser": auth("superuser"),
                               "replication": auth("replication"),
                               "rewind": auth("rewind")},
            "parameters": {"unix_socket_directories": "/var/run/postgresql",
                           **_ssl_parameters(tls), **backup.get("parameters", {})},
            "pg_hba": hba,
            # root on the host may act as postgres over the socket (Salt's SQL module does).
            "pg_ident": ["pgsalt root postgres", "pgsalt postgres postgres"],
            "create_replica_methods": backup.get("create_replica_methods", ["basebackup"]),
            "basebackup": [{"checkpoint": "fast"}],
            **{key: backup[key] for key in ("recovery_conf", "pgbackrest") if key in backup},
            "remove_data_directory_on_rewind_failure": True,
            "remove_data_directory_on_diverged_timelines": True,
        },
        "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False,
                 "nosync": False},
    }


def _patroni_etcd(c, tls):
    section = {"hosts": c["etcd_hosts"]}
    if c["etcd_endpoints"] and all(url.startswith("https://") for url in c["etcd_endpoints"]):
        section["protocol"] = "https"
        if tls:
            # With etcd's auth on, its JSON gateway (what Patroni speaks) refuses a client
            # certificate that names a user: Patroni logs in with its own.
            section.update(cacert=tls["ca"], cert=tls["etcd_cert"], key=tls["key"])
    login = c.get("etcd_login")
    if login:
        section.update(username=login["user"], password=login["password"])
    return section


def _ssl_parameters(tls):
    if not tls:
        return {}
    return {"ssl": "on", "ssl_cert_file": tls["cert"], "ssl_key_file": tls["key"],
            "ssl_ca_file": tls["ca"], "ssl_min_protocol_version": "TLSv1.2"}


def etcd_environment(c):
    """The ETCD_* variables for this member's etcd, in a stable order.

    ETCD_INITIAL_CLUSTER_STATE is not here: it is decided when the state runs and kept
    in a file of its own, so that the decision never restarts a running member.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.etcd_environment "$(...)"
    """
    e, addr, tls = c["etcd"], c["my"]["address"], service_tls(c)
    peer, client = etcd_urls(c)
    variables = [
        ("ETCD_NAME", c["me"]),
        ("ETCD_DATA_DIR", e["data_dir"]),
        ("ETCD_LISTEN_PEER_URLS", peer),
        ("ETCD_LISTEN_CLIENT_URLS", f"{client},{client.replace(addr, '127.0.0.1')}"),
        ("ETCD_INITIAL_ADVERTISE_PEER_URLS", peer),
        ("ETCD_ADVERTISE_CLIENT_URLS", client),
        ("ETCD_INITIAL_CLUSTER", c["etcd_initial_cluster"]),
        ("ETCD_INITIAL_CLUSTER_TOKEN", e["token"]),
        ("ETCD_HEARTBEAT_INTERVAL", str(e["heartbeat_interval"])),
        ("ETCD_ELECTION_TIMEOUT", str(e["election_timeout"])),
        ("ETCD_ENABLE_V2", "false"),
    ]
    if c.get("monitor_members"):
        # /metrics and /health only, in plain HTTP: Prometheus needs no client certificate.
        variables.append(("ETCD_LISTEN_METRICS_URLS",
                          f"http://{addr}:{c['monitoring']['ports']['etcd']}"))
    if tls:
        # Clients and peers alike present a certificate from the cluster CA. etcd serves
        # with the one that names no user: its JSON gateway relays anonymous requests to
        # etcd under that certificate, so a CN would make them that user's.
        for side in ("", "PEER_"):
            variables += [(f"ETCD_{side}CERT_FILE", tls["etcd_cert"]),
                          (f"ETCD_{side}KEY_FILE", tls["key"]),
                          (f"ETCD_{side}TRUSTED_CA_FILE", tls["ca"]),
                          (f"ETCD_{side}CLIENT_CERT_AUTH", "true")]
        # The formula's membership and user calls: the host's CN is an etcd admin.
        variables.append(("PGSALT_ADMIN_CERT_FILE", tls["cert"]))
    return variables


def etcd_urls(c):
    """This member's etcd peer URL and client URL (https with TLS on).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.etcd_urls "$(...)"
    """
    e, addr = c["etcd"], c["my"]["address"]
    scheme = "https" if service_tls(c) else "http"
    return f"{scheme}://{addr}:{e['peer_port']}", f"{scheme}://{addr}:{e['client_port']}"


def haproxy_backends(c):
    """The PostgreSQL servers HAProxy routes to: name, address, port, check port.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.haproxy_backends "$(...)"
    """
    return [{"name": m, "address": _addr(c, m), "port": c["postgresql"]["port"],
             "check_port": c["patroni"]["port"]} for m in c["db_members"]]


def pgbouncer_databases(c):
    """PgBouncer's [databases]: X to HAProxy's rw port, X_ro to its ro port, and the
    database auth_query runs in when PgBouncer has ``auth_dbname``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.pgbouncer_databases "$(...)"
    """
    hp, pb = c["haproxy"], c["pgbouncer"]
    suffix = pb["ro_suffix"]
    out = {}
    if pb["auth_dbname"]:
        out[pb["auth_database"]] = f"host=127.0.0.1 port={hp['rw_port']} dbname=postgres"
    for db in sorted(c["databases"]):
        out[db] = f"host=127.0.0.1 port={hp['rw_port']} dbname={db}"
        out[db + suffix] = f"host=127.0.0.1 port={hp['ro_port']} dbname={db}"
    return out


def auth_databases(c):
    """Where PgBouncer's auth function must exist: postgres alone when PgBouncer has
    ``auth_dbname`` (1.19+), otherwise every database it serves.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.auth_databases "$(...)"
    """
    if c["pgbouncer"]["auth_dbname"]:
        return ["postgres"]
    return ["postgres"] + sorted(c["databases"])


def tls_files(c):
    """Where this host keeps its key, its certificate and the cluster CA's certificate.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.tls_files "$(...)"
    """
    tls = c["tls"]
    return {key: tls[key] for key in ("key", "cert", "ca", "etcd_cert")}


def service_tls(c):
    """The TLS files PostgreSQL, Patroni, PgBouncer and HAProxy use; None when the pillar
    turns TLS off (``tls:enabled: false``, an insecure lab).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.service_tls "$(...)"
    """
    return tls_files(c) if c["tls"].get("enabled") is not False else None


def _backup_hosts(c):
    tls_repository = c["pgbackrest"]["repository"]["type"] == "tls"
    return (c["backup_members"][0] if tls_repository else None), c["db_members"]


def pgbackrest_config(c):
    """pgBackRest's config for this host, as [section, [[option, value], ...]] pairs.

    A tls repository: the repository host lists every db host (pgN-host) and runs the
    backups; db hosts point repo1-host at it; both sides run pgBackRest's TLS server and
    accept only the other side's certificates (CN = minion id). A posix repository: each
    db host has the repository path itself. The cipher passphrase is written only where
    the repository is.

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt.pgbackrest_config "$(...)"
    """
    pb, pg, stanza = c["pgbackrest"], c["postgresql"], c["scope"]
    repo_host, db_hosts = _backup_hosts(c)
    me, tls = c["me"], tls_files(c)
    holds_repository = me == repo_host or repo_host is None
    common = [["log-level-console", "warn"], ["log-level-file", "info"],
              ["process-max", pb["process_max"]], ["compress-type", pb["compress_type"]]]
    if holds_repository:
        common += _repository_options(pb)
    else:
        common += [["repo1-host", _addr(c, repo_host)], ["repo1-host-type", "tls"],
                   ["repo1-host-port", pb["port"]], ["repo1-host-cert-file", tls["cert"]],
                   ["repo1-host-key-file", tls["key"]], ["repo1-host-ca-file", tls["ca"]]]
    if repo_host:
        clients = sorted(db_hosts) if me == repo_host else [repo_host]
        common += [["tls-server-address", c["my"]["address"]], ["tls-server-port", pb["port"]],
                   ["tls-server-cert-file", tls["cert"]], ["tls-server-key-file", tls["key"]],
                   ["tls-server-ca-file", tls["ca"]]]
        # One line per client: after "=" pgBackRest reads a list of stanzas, not of CNs.
        common += [["tls-server-auth", f"{client}={stanza}"] for client in clients]
    if me != repo_host:
        common += [["archive-async", "y" if pb["archive_async"] else "n"],
                   ["spool-path", pb["spool_path"]],
                   ["archive-push-queue-max", pb["archive_push_queue_max"]]]
    if me == repo_host:
        pgs = []
        for index, member in enumerate(sorted(db_hosts), 1):
            pgs += [[f"pg{index}-host", _addr(c, member)], [f"pg{index}-host-type", "tls"],
                    [f"pg{index}-host-port", pb["port"]],
                    [f"pg{index}-host-cert-file", tls["cert"]],
                    [f"pg{index}-host-key-file", tls["key"]],
                    [f"pg{index}-host-ca-file", tls["ca"]],
                    [f"pg{index}-path", pg["data_dir"]], [f"pg{index}-port", pg["port"]]]
    else:
        pgs = [["pg1-path", pg["data_dir"]], ["pg1-port", pg["port"]]]
    sections = [["global", common], [stanza, pgs]]
    if me != repo_host:
        # A dead repository must stall neither a promotion (PostgreSQL runs restore_command
        # then) nor a shutdown (the archiver pushes what is left): both give up quickly.
        get = pb["archive_get_timeout"]
        sections += [["global:archive-get", [["io-timeout", get], ["archive-timeout", get]]],
                     ["global:archive-push", [["archive-timeout", pb["archive_push_timeout"]]]]]
    return sections


def _repository_options(pb):
    retention = pb["retention"]
    options = [["repo1-path", pb["repository"]["path"]],
               ["repo1-retention-full-type", retention["full_type"]],
               ["repo1-retention-full", retention["full"]]]
    if retention.get("diff"):
        options.append(["repo1-retention-diff", retention["diff"]])
    if pb["cipher"] != "none":
        options += [["repo1-cipher-type", pb["cipher"]], ["repo1-cipher-pass", pb["passphrase"]]]
    return options + [["start-fast", "y"], ["backup-standby", "y" if pb["backup_standby"] else "n"]]


def pgbackrest_drill_config(c):
    """The config orch.restore_drill restores with on the repository host: the repository
    itself, and a scratch data directory in place of the db hosts.

    CLI Example:

    .. code-block:: bash

        salt pg4 pgsalt.pgbackrest_drill_config "$(...)"
    """
    pb = c["pgbackrest"]
    common = [["log-level-console", "warn"], ["log-level-file", "info"],
              ["process-max", pb["process_max"]], *_repository_options(pb)]
    return [["global", common],
            # pgsalt_drill restores into DRILL_PATH/data; archive-get checks the path.
            [c["scope"], [["pg1-path", pb["drill_path"] + "/data"],
                          ["pg1-port", pb["drill_port"]]]]]


# Hands a segment to pgBackRest; see salt/pgbackrest/files/pgsalt-archive-push.
ARCHIVE_PUSH = "/usr/local/sbin/pgsalt-archive-push"


def pgbackrest_patroni(c):
    """What Patroni's config gains when the cluster takes backups: archiving parameters,
    the restore_command, and pgBackRest as the first way to build a replica.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.pgbackrest_patroni "$(...)"
    """
    stanza, pb = c["scope"], c["pgbackrest"]
    if not pb["enabled"]:
        return {}
    command = f"/usr/bin/pgbackrest --stanza={stanza}"
    return {
        "parameters": {"archive_mode": "on",
                       "archive_command": f"{ARCHIVE_PUSH} {command} archive-push %p"},
        "recovery_conf": {"restore_command": f'{command} archive-get %f "%p"'},
        "create_replica_methods": ["pgbackrest", "basebackup"],
        "pgbackrest": {"command": f"{command} --delta restore", "keep_data": True,
                       "no_params": True},
    }


KEEPALIVED_DIR = "/etc/keepalived"


def keepalived_config(c):
    """Keepalived's config for this balancer, as the template prints it: one VRRP instance
    for the cluster's VIP, in unicast to the other balancers, that gives the VIP up when the
    local HAProxy stops answering and tells the Salt master of every state change.

    Every host starts as BACKUP and the election decides; priorities are pillar's
    ``vip:priority`` or 254, 253, ... for the balancers in id order. The validator checks
    the VIP against pillar's addresses; this checks it against the mine's as well.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt.keepalived_config "$(...)"
    """
    vip, hp, me, own = c["vip"], c["haproxy"], c["me"], c["my"]["address"]
    balancers = c["balancer_members"]
    if vip["address"] is None or me not in balancers:
        raise CommandExecutionError(
            f"pgsalt:clusters:{c['name']}: Keepalived runs on the balancers of a cluster "
            f"with a vip:address; {me} is not one")
    taken = sorted(m for m in c["members"] if _addr(c, m) == vip["address"])
    if taken:
        raise CommandExecutionError(
            f"pgsalt:clusters:{c['name']}:vip:address: {vip['address']} is the address of "
            f"member {taken[0]}; expected an address no host has")
    # Near 255: a backup's skew time, (256 - priority) / 256 of an advert, adds ~0.01 s to
    # the 3 missed adverts after which it takes the VIP of a dead holder (0.2 s at 200).
    priority = {m: 254 - index for index, m in enumerate(balancers)}
    priority.update(vip["priority"])
    scripts = {"check": f"{KEEPALIVED_DIR}/pgsalt-check-haproxy",
               "notify": f"{KEEPALIVED_DIR}/pgsalt-notify"}
    check = c["keepalived"]["check"]
    return {
        "router_id": me,
        "instance": f"pgsalt_{c['name']}",
        "interface": vip["interface"],
        "virtual_router_id": vip["virtual_router_id"],
        "priority": priority[me],
        "advert_int": vip["advert_int"],
        "preempt": vip["preempt"],
        "unicast_src_ip": own,
        "unicast_peers": [_addr(c, m) for m in balancers if m != me],
        "password": vip["password"],
        # A host address of its own, beside the interface's: no route or subnet changes.
        "address": f"{vip['address']}/32",
        "check": {"name": "pgsalt_haproxy",
                  "command": f"{scripts['check']} {own} {hp['stats_port']} {hp['monitor_uri']}",
                  **{key: check[key] for key in ("interval", "timeout", "fall", "rise")}},
        "notify": f"{scripts['notify']} {_salt_call()} {c['name']} {vip['address']} {me}",
        "scripts": scripts,
    }
