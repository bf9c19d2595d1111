"""The pgsalt cluster model: defaults merged with pillar, derived fields, validation.

A cluster lives in pillar at ``pgsalt:clusters:NAME``. :func:`resolve` merges it over
the formula defaults and adds what the states need (addresses, etcd endpoints, ...);
:func:`validate` lists what is wrong with it, each error naming the pillar key path.

Standard library only and no Salt dunders, so that Salt can load it as a utils module
(``__utils__['pgsalt_model.resolve'](...)``) and tests can import it directly.
"""

import copy
import datetime
import ipaddress
import re
import urllib.parse

# Salt's loader publishes every function listed here and nothing else.
__all__ = ["defaults_files", "merge", "defaults_for", "resolve", "find_cluster", "validate",
           "plan", "phases", "restore_plan", "restore_command"]

COMPONENTS = ("etcd", "postgresql", "patroni", "pgbouncer", "haproxy", "pgbackrest", "keepalived",
              "monitoring")
ROLES = ("dcs", "db", "balancer", "backup", "monitor")
MEMBER_KEYS = ("roles", "address")
ROLE_KEYS = (
    "password", "login", "superuser", "createdb", "createrole", "replication", "connection_limit",
)
ROLE_FLAGS = ("login", "superuser", "createdb", "createrole", "replication")
DATABASE_KEYS = ("owner", "encoding", "extensions")
PROFILE_KEYS = ("ttl", "loop_wait", "retry_timeout")
SYSTEM_USERS = (
    "superuser", "replication", "rewind", "pgbouncer_auth", "rest_api", "haproxy_stats",
)
PATRONI_SOURCES = ("package", "venv")
POOL_MODES = ("session", "transaction", "statement")
PG_VERSIONS = range(13, 19)
MIN_PASSWORD = 16
# Passwords published as defaults (pillar.example's placeholders, the tools' documented
# examples): a cluster that keeps one is as open as one with no password.
PLACEHOLDER_PASSWORD = re.compile(r"change-?me", re.IGNORECASE)
KNOWN_PASSWORDS = frozenset({
    "postgres", "password", "zalando", "rep-pass", "rewind_password", "admin", "secret",
    "patroni", "replicator", "changeme", "pgbouncer", "haproxy", "passwordpassword",
    "postgrespostgres", "1234567890123456", "0123456789abcdef",
})
TLS_SSLMODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")
MIN_TTL = 20  # Patroni refuses a lower ttl
# Kept free of PgBouncer's pools for superuser and replication connections.
RESERVED_CONNECTIONS = 10
# Ports each role listens on, as (section, key); one host must not use a port twice.
ROLE_PORTS = {
    "dcs": (("etcd", "client_port"), ("etcd", "peer_port")),
    "db": (("postgresql", "port"), ("patroni", "port"), ("pgbackrest", "port")),
    "balancer": (
        ("haproxy", "rw_port"), ("haproxy", "ro_port"), ("haproxy", "stats_port"),
        ("pgbouncer", "port"),
    ),
    "backup": (("pgbackrest", "port"), ("pgbackrest", "drill_port")),
}
# Monitoring's ports, as (monitoring:ports key, role); in use only when a member has the role
# monitor, and node_exporter ("member") runs on every member.
MONITORING_PORTS = (
    ("node", "member"), ("etcd", "dcs"), ("postgres", "db"), ("pgbouncer", "balancer"),
    ("haproxy", "balancer"), ("prometheus", "monitor"), ("alertmanager", "monitor"),
)
# Maps whose keys are names chosen in pillar, not settings; the unknown-key check
# stops there and the checks of members, roles, databases and profiles take over.
OPEN_MAPS = {
    ("members",), ("roles",), ("databases",), ("postgresql", "parameters"),
    ("patroni", "profiles"), ("pgbackrest", "schedule"), ("vip", "priority"),
}
REPOSITORY_TYPES = ("tls", "posix")
CIPHERS = ("none", "aes-256-cbc")
COMPRESS_TYPES = ("none", "gz", "bz2", "lz4", "zst")
BACKUP_TYPES = ("full", "diff", "incr")
RETENTION_TYPES = ("count", "time")
RESTORE_TYPES = ("latest", "time", "lsn", "xid", "name", "immediate")
RESTORE_KEYS = ("type", "target", "leader")
# What keepalived.conf takes unquoted in a VRRP password.
VRRP_PASSWORD = re.compile(r"[A-Za-z0-9._+=@%:,/~^-]+")


def defaults_files():
    """Where each component's defaults live on the Salt file server: ``{name: salt:// URL}``,
    keyed as :func:`resolve` takes the defaults."""
    return {name: f"salt://{name}/defaults.yaml" for name in ("pgsalt", *COMPONENTS)}


def merge(base, *overrides):
    """Return a new dict: ``base`` deep-merged with each override in turn.

    Dicts merge key by key; any other value (lists included) replaces. A ``None``
    override at the top level is skipped, so an empty pillar cluster changes nothing.
    The inputs are not mutated and the result shares no mutable value with them.
    """
    result = copy.deepcopy(base) if base is not None else {}
    for override in overrides:
        if override is not None:
            result = _merge_two(result, override)
    return result


def _merge_two(base, override):
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return copy.deepcopy(override)
    result = dict(base)
    for key, value in override.items():
        result[key] = _merge_two(result[key], value) if key in result else copy.deepcopy(value)
    return result


def defaults_for(defaults, osfinger=None):
    """Return the cluster-level defaults for a host release.

    ``defaults`` maps ``pgsalt`` and each component to its ``defaults.yaml`` as loaded;
    a component's ``release:OSFINGER`` settings (e.g. ``Debian-13``) override its own.
    """
    defaults = defaults or {}
    result = merge(defaults.get("pgsalt"))
    for component in COMPONENTS:
        own = defaults.get(component)
        if not isinstance(own, dict):
            continue
        release = _mapping(_mapping(own.get("release")).get(osfinger)).get(component)
        result[component] = merge(own.get(component), release)
    return result


def resolve(name, clusters, defaults, osfinger=None, addresses=None):
    """Return cluster ``name`` merged over the defaults, with derived fields added.

    ``clusters`` is pillar ``pgsalt:clusters``; ``addresses`` maps minion ids to their
    IPv4 addresses (Salt's mine ``network.ip_addrs``). Added: ``name``, ``scope``,
    ``etcd.token``, formatted PostgreSQL paths and packages, ``patroni.timing_values``,
    each member's ``roles`` and ``address``, ``dcs_members``, ``db_members``,
    ``balancer_members``, ``etcd_endpoints``, ``etcd_hosts``, ``etcd_initial_cluster``,
    ``standby_endpoint`` (a standby cluster's ``{host, port}`` to stream from, else None),
    ``standby_clients`` (addresses the standby clusters of this one replicate from) and
    ``unaddressed`` (members, own or of the etcd or source cluster used, whose address is
    unknown; they are left out of the lists). A standby cluster's ``users``, ``roles`` and
    ``databases`` are its source's. Raises ValueError for an unknown name.
    """
    cluster = _resolve_one(name, clusters, defaults, osfinger, addresses)
    etcd, dcs = cluster["etcd"], cluster["dcs"]
    own = _dcs_addresses(cluster)
    unaddressed = set(cluster["unaddressed"])

    scheme = "https" if _tls_on(cluster) else "http"
    cluster["etcd_initial_cluster"] = ",".join(
        f"{mid}={scheme}://{_host_port(addr, etcd.get('peer_port'))}" for mid, addr in own if addr
    )
    # A cluster on another's etcd has its certificates from that cluster's CA: etcd trusts
    # one CA, and its clients present certificates from it.
    cluster["ca_cluster"] = name
    cluster["own_ca"] = _own_ca(name, cluster)
    other, endpoints = dcs.get("cluster"), dcs.get("endpoints")
    # etcd's own authentication follows the etcd's cluster; an external etcd's is not ours.
    cluster["etcd_auth"] = not endpoints and _etcd_auth_on(cluster)
    if other:
        hosts = []
        cluster["etcd_auth"] = False
        if isinstance(other, str) and other != name and other in clusters:
            peer = _resolve_one(other, clusters, defaults, osfinger, addresses)
            cluster["ca_cluster"] = other
            cluster["own_ca"] = _own_ca(other, peer)
            cluster["etcd_auth"] = _etcd_auth_on(peer)
            scheme = "https" if _tls_on(peer) else "http"
            port = peer["etcd"].get("client_port")
            for mid, addr in _dcs_addresses(peer):
                if addr:
                    hosts.append(_host_port(addr, port))
                else:
                    unaddressed.add(mid)
        cluster["etcd_endpoints"] = [f"{scheme}://{host}" for host in hosts]
        cluster["etcd_hosts"] = hosts
    elif endpoints and isinstance(endpoints, list):
        cluster["etcd_endpoints"] = list(endpoints)
        cluster["etcd_hosts"] = [
            host for host in (_url_host(url, etcd.get("client_port")) for url in endpoints) if host
        ]
    else:
        hosts = [_host_port(addr, etcd.get("client_port")) for _, addr in own if addr]
        cluster["etcd_endpoints"] = [f"{scheme}://{host}" for host in hosts]
        cluster["etcd_hosts"] = hosts

    resolved = (clusters, defaults, osfinger, addresses)
    cluster["etcd_login"] = _etcd_login(cluster, resolved) if cluster["etcd_auth"] else None
    # The logins the cluster that runs an etcd keeps on it: its own and its tenants'.
    tenants = [other for other in clusters if other != name
               and _mapping(_mapping(clusters[other]).get("dcs")).get("cluster") == name]
    cluster["etcd_logins"] = [cluster["etcd_login"], *(
        _etcd_login(_resolve_one(tenant, *resolved), resolved) for tenant in tenants)
    ] if cluster["etcd_auth"] and cluster["dcs_members"] else []

    cluster["standby_endpoint"] = None
    source = _standby_source(name, clusters)
    if source:
        peer = _resolve_one(source, clusters, defaults, osfinger, addresses)
        # The data is a copy of the source's: the source's roles and passwords are the ones
        # that work on it.
        for key in ("users", "roles", "databases"):
            cluster[key] = peer.get(key)
        # The source's read-write endpoint: whichever host its HAProxy routes writes to is
        # the one to stream from, through a failover of the source too.
        host = peer["vip"].get("address")
        if not host:
            balancers = [(mid, peer["members"][mid]["address"]) for mid in peer["balancer_members"]]
            unaddressed.update(mid for mid, addr in balancers if not addr)
            host = ",".join(addr for _, addr in balancers if addr)  # libpq tries each in turn
        cluster["standby_endpoint"] = {"host": host,
                                       "port": _mapping(peer.get("haproxy")).get("rw_port")}
    # Clusters standing by on this one connect through its HAProxy rw port. HAProxy (mode
    # tcp, no "source" or transparent proxying) opens the server connection from the
    # balancer's own address, so that is what PostgreSQL sees, never the standby host's.
    standbys = [other for other in clusters if _standby_source(other, clusters) == name]
    cluster["standby_clients"] = sorted(
        {cluster["members"][mid]["address"] for mid in cluster["balancer_members"]} - {None}
    ) if standbys else []
    cluster["unaddressed"] = sorted(unaddressed, key=str)
    return cluster


def _own_ca(name, cluster):
    """The CA of the operator's own that signs CLUSTER's certificates: {cluster, cert,
    key} (paths on the Salt master), or None for the CA the master keeps for it."""
    own = _mapping(_mapping(cluster.get("tls")).get("own_ca"))
    if own.get("cert") and own.get("key"):
        return {"cluster": name, "cert": own["cert"], "key": own["key"]}
    return None


def _tls_on(cluster):
    return _mapping(cluster.get("tls")).get("enabled") is not False


def _etcd_auth_on(cluster):
    """etcd's own authentication is on for an etcd with TLS unless etcd:auth is false: a
    password over plain text would protect nothing."""
    return _mapping(cluster.get("etcd")).get("auth") is not False and _tls_on(cluster)


def _etcd_login(cluster, resolved):
    """CLUSTER's Patroni login on its etcd: user (users:etcd:name, else patroni-SCOPE),
    password, and the key prefix its role may read and write. A standby cluster's users are
    its source's."""
    source = _standby_source(cluster["name"], resolved[0])
    users = _resolve_one(source, *resolved)["users"] if source else cluster["users"]
    login = _mapping(_mapping(users).get("etcd"))
    namespace = str(cluster.get("namespace") or "/service/").strip("/")
    return {"user": login.get("name") or f"patroni-{cluster['scope']}",
            "password": login.get("password"),
            "prefix": f"/{namespace}/{cluster['scope']}/".replace("//", "/")}


def _standby_source(name, clusters):
    """The cluster NAME stands by on, when it names another cluster of pillar; else None."""
    source = _mapping(_mapping(_mapping(clusters).get(name)).get("standby")).get("cluster")
    if isinstance(source, str) and source != name and isinstance(clusters.get(source), dict):
        return source
    return None


def _resolve_one(name, clusters, defaults, osfinger, addresses):
    """Everything :func:`resolve` computes except the etcd lists, which need other clusters."""
    clusters = clusters or {}
    if name not in clusters:
        raise ValueError(f"pgsalt:clusters:{name}: no such cluster in pillar")
    cluster = merge(defaults_for(defaults, osfinger), clusters[name])
    cluster["name"] = name
    if cluster.get("scope") is None:
        cluster["scope"] = name
    for key in ("etcd", "postgresql", "patroni", "dcs", "pgbackrest", "tls", "vip", "standby",
                "heal"):
        _section(cluster, key)
    if cluster["etcd"].get("token") is None:
        cluster["etcd"]["token"] = name

    postgresql = cluster["postgresql"]
    version = postgresql.get("version")
    if version is not None:
        values = {"version": version, "scope": cluster["scope"]}
        for key in ("data_dir", "bin_dir"):
            if key in postgresql:
                postgresql[key] = _format(postgresql[key], values)
        if isinstance(postgresql.get("packages"), list):
            postgresql["packages"] = [_format(pkg, values) for pkg in postgresql["packages"]]

    patroni = cluster["patroni"]
    profiles, timing = patroni.get("profiles"), patroni.get("timing")
    profile = _mapping(profiles).get(timing) if isinstance(timing, str) else None
    patroni["timing_values"] = dict(profile) if isinstance(profile, dict) else None
    if patroni.get("primary_start_timeout", 0) is None:
        # A primary whose PostgreSQL died fails over at once when a synchronous standby
        # holds every acknowledged commit; without one Patroni first starts it again.
        patroni["primary_start_timeout"] = 0 if patroni.get("synchronous_mode") else 300

    network = _network(cluster.get("network"))
    # With a network that does not parse, no address is better than a wrong one.
    usable = network is not None or cluster.get("network") is None
    addresses = addresses or {}
    members = {}
    for mid, spec in _members(cluster).items():
        spec = dict(spec) if isinstance(spec, dict) else {}
        spec["roles"] = list(spec["roles"]) if isinstance(spec.get("roles"), list) else []
        if spec.get("address") is None:
            spec["address"] = _pick_address(addresses.get(mid), network) if usable else None
        members[mid] = spec
    cluster["members"] = members
    for role in ROLES:
        cluster[f"{role}_members"] = sorted(
            (mid for mid, spec in members.items() if role in spec["roles"]), key=str
        )
    cluster["unaddressed"] = sorted(
        (mid for mid, spec in members.items() if spec["address"] is None), key=str
    )
    return cluster


def find_cluster(clusters, minion_id):
    """Return the name of the cluster that has ``minion_id`` as a member, or None."""
    for name in sorted(_mapping(clusters), key=str):
        if minion_id in _members(clusters[name]):
            return name
    return None


def validate(clusters, name=None, defaults=None, known_minions=None):
    """Return the errors in pillar cluster ``name`` as strings; empty when it is valid.

    ``name`` may be None only when pillar has exactly one cluster. ``defaults`` is the
    same mapping :func:`resolve` takes; without it (None or empty) unknown keys are not
    detected and checks whose setting is absent are skipped. ``known_minions`` (ids of
    accepted minion keys) is checked only when given. Messages never quote a password.
    """
    if not isinstance(clusters, dict) or not clusters:
        return ["pgsalt:clusters: missing or empty; expected a mapping of cluster names "
                "to their settings"]
    if name is None:
        if len(clusters) != 1:
            return [f"pgsalt:clusters: {len(clusters)} clusters ({_names(clusters)}) and no "
                    "cluster name given; expected the name of one of them"]
        (name,) = clusters
    if name not in clusters:
        return [f"pgsalt:clusters:{name}: no such cluster (accepted: {_names(clusters)})"]
    path = f"pgsalt:clusters:{name}"
    if not isinstance(clusters[name], dict):
        return [f"{path}: must be a mapping, not {_kind(clusters[name])}"]

    defaults = defaults or {}
    errors = []
    schema = _schema(defaults)
    if schema:
        _check_keys(clusters[name], schema, path, (), errors)
    cluster = resolve(name, clusters, defaults)
    _check_members(clusters, name, cluster, path, known_minions, errors)
    _check_dcs(clusters, name, cluster, path, errors)
    _check_ports(cluster, path, errors)
    # A standby cluster's users, roles and databases are its source's: checked under its key.
    owner = _check_standby(clusters, name, cluster, path, errors)
    if owner:
        _check_users(cluster, owner, errors)
        _check_databases(cluster, owner, errors)
    _check_pools(cluster, path, errors)
    _check_patroni(cluster, path, errors)
    _check_postgresql(cluster, path, errors)
    _check_backup(cluster, path, errors)
    _check_vip(clusters, name, cluster, path, errors)
    _check_heal(cluster, path, errors)
    _check_monitoring(cluster, path, errors)
    _check_tls(clusters, cluster, path, errors)
    return errors


def plan(clusters, name=None, defaults=None, known_minions=None):
    """Validate cluster NAME and say who does what: the plan an orchestration follows.

    Returns ``{"cluster", "errors"}`` when the pillar is refused, else also the sorted
    minion ids ``members``, ``dcs``, ``db`` and ``balancer``, ``dcs_cluster``,
    ``etcd_auth_hosts`` (the dcs hosts of that cluster, where this one's etcd login is
    made, when etcd's auth is on), ``vip``
    (the virtual IP's address, None without one) and ``standby`` (``{"cluster": SOURCE}``
    for a standby cluster, else {}).
    """
    errors = validate(clusters, name, defaults, known_minions)
    if errors:
        return {"cluster": name, "errors": errors}
    name = name or next(iter(clusters))
    resolved = resolve(name, clusters, defaults or {})
    steps = phases(resolved)
    return {
        "cluster": name,
        "errors": [],
        "members": sorted(resolved["members"]),
        "dcs": resolved["dcs_members"],
        "db": resolved["db_members"],
        "balancer": resolved["balancer_members"],
        "dcs_cluster": resolved["dcs"].get("cluster"),
        # A cluster on another's etcd gets its login there before its Patroni starts.
        "etcd_auth_hosts": _resolve_one(resolved["dcs"]["cluster"], clusters, defaults or {},
                                        None, None)["dcs_members"]
        if resolved["etcd_auth"] and resolved["dcs"].get("cluster") else [],
        "backup": _backup_plan(resolved),
        "network": resolved.get("network"),
        "vip": resolved["vip"].get("address"),
        "heal": resolved["heal"],
        "etcd_service": resolved["etcd"].get("service"),
        "monitor": resolved["monitor_members"],
        "standby": {"cluster": _standby_source(name, clusters)} if resolved["standby_endpoint"]
        else {},
        "tls": _tls_plan(resolved),
        # orch.deploy's wide steps go to the members with something to apply in them.
        "prepare": sorted((m for m, p in steps.items() if p["prepare"]), key=str),
        "serve": sorted((m for m, p in steps.items() if p["serve"]), key=str),
    }


def phases(cluster):
    """What each member applies in orch.deploy's two wide steps, by its roles:
    ``{minion: {"prepare": [sls], "serve": [sls]}}``.

    ``prepare``, before any Patroni starts: the Python libraries, every package in one
    transaction, pgBackRest (archiving works from the first WAL segment), etcd, PostgreSQL
    and Patroni's config. ``serve``, once the leader holds the SQL objects: HAProxy before
    PgBouncer before the VIP, the backup stanza where backups run, monitoring. One run per
    step and host costs Salt's job start, pillar and rendering once, not per component.
    """
    backup = _backup_plan(cluster)
    stanza_hosts = ([backup["repository"]] if backup.get("repository")
                    else cluster["db_members"]) if backup else []
    out = {}
    for mid, spec in cluster["members"].items():
        roles = spec["roles"]
        prepare = ["pgsalt.python", "pgsalt.packages"]
        if mid in backup.get("hosts", []):
            prepare.append("pgbackrest")
        if "dcs" in roles:
            prepare.append("etcd")
        if "db" in roles:
            prepare += ["postgresql", "patroni.config"]
        serve = []
        if "balancer" in roles:
            serve += ["haproxy", "pgbouncer"] + (["keepalived"] if cluster["vip"].get("address")
                                                 else [])
        if mid in stanza_hosts:
            serve.append("pgbackrest.stanza")
        if cluster["monitor_members"]:
            serve.append("monitoring")
        out[mid] = {"prepare": prepare, "serve": serve}
    return out


def _tls_plan(cluster):
    """Who gets a certificate from the cluster CA: every member with TLS on, else the
    pgBackRest hosts of a tls repository; and the certificates' lifetimes."""
    tls = cluster["tls"]
    if tls.get("enabled") is not False:
        hosts = sorted(cluster["members"], key=str)
    else:
        backup = _backup_plan(cluster)
        hosts = backup["hosts"] if backup.get("type") == "tls" else []
    return {"hosts": hosts, "ca": cluster["ca_cluster"], "own_ca": cluster["own_ca"],
            "days": tls.get("days"), "renew_days": tls.get("renew_days")}


def _backup_plan(cluster):
    """Who takes part in backups: {} when they are off, else the repository ``type``, the
    ``repository`` host (tls) and ``hosts``, every member that needs pgBackRest."""
    settings = cluster["pgbackrest"]
    if settings.get("enabled") is not True:
        return {}
    kind = _mapping(settings.get("repository")).get("type")
    repository = cluster["backup_members"][0] if kind == "tls" else None
    hosts = sorted(cluster["db_members"] + ([repository] if repository else []), key=str)
    drill = {"path": settings.get("drill_path"), "port": settings.get("drill_port"),
             "cluster": cluster["name"], "bin_dir": None}
    return {"type": kind, "repository": repository, "hosts": hosts, "stanza": cluster["scope"],
            "drill": drill}


def _schema(defaults):
    """Every key the defaults know, over all releases: what pillar may set."""
    schema = defaults_for(defaults)
    for component in COMPONENTS:
        if component not in schema:
            continue
        for release in _mapping(defaults[component].get("release")).values():
            schema = merge(schema, {component: _mapping(_mapping(release).get(component))})
    return schema


def _check_keys(value, schema, path, where, errors):
    for key, sub in value.items():
        here = f"{path}:{key}"
        if key not in schema:
            errors.append(f"{here}: unknown key (accepted keys: {_names(schema)})")
        elif where + (key,) not in OPEN_MAPS and isinstance(schema[key], dict):
            if isinstance(sub, dict):
                _check_keys(sub, schema[key], here, where + (key,), errors)
            else:
                errors.append(f"{here}: must be a mapping, not {_kind(sub)}")


def _check_entry(value, allowed, path, errors):
    """Check one entry of an open map; return it as a dict, or None when it is no mapping."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.append(f"{path}: must be a mapping, not {_kind(value)}")
        return None
    for key in value:
        if key not in allowed:
            errors.append(f"{path}:{key}: unknown key (accepted keys: {', '.join(allowed)})")
    return value


def _check_members(clusters, name, cluster, path, known_minions, errors):
    members = clusters[name].get("members")
    if members is not None and not isinstance(members, dict):
        errors.append(f"{path}:members: must be a mapping of minion ids, not {_kind(members)}")
        return
    network = _network(cluster.get("network"))
    if cluster.get("network") is not None and network is None:
        errors.append(f"{path}:network: {cluster['network']!r} is not a valid CIDR; expected "
                      "e.g. 10.77.0.0/24, or null to take each member's first address")
    known = None if known_minions is None else set(known_minions)
    seen_addresses = {}
    for mid, spec in _members(clusters[name]).items():
        here = f"{path}:members:{mid}"
        if known is not None and mid not in known:
            errors.append(f"{here}: not a known minion (accepted keys: {_names(known)})")
        for other in sorted(clusters, key=str):
            if other != name and mid in _members(clusters[other]):
                errors.append(f"{here}: also a member of pgsalt:clusters:{other}; expected each "
                              "minion in one cluster only")
        spec = _check_entry(spec, MEMBER_KEYS, here, errors)
        if spec is None:
            continue
        roles = spec.get("roles")
        if not roles:
            errors.append(f"{here}:roles: missing or empty; expected a list of: {', '.join(ROLES)}")
        elif not isinstance(roles, list):
            errors.append(f"{here}:roles: must be a list, not {_kind(roles)}")
        else:
            for role in roles:
                if role not in ROLES:
                    errors.append(f"{here}:roles: unknown role {role!r} "
                                  f"(accepted: {', '.join(ROLES)})")
        address = spec.get("address")
        if address is None:
            continue
        try:
            ip = ipaddress.ip_address(address if isinstance(address, str) else None)
        except ValueError:
            errors.append(f"{here}:address: {address!r} is not an IP address; expected e.g. "
                          "10.77.0.11, or no address to take it from the mine")
            continue
        if network is not None and ip not in network:
            errors.append(f"{here}:address: {address} is not inside {path}:network "
                          f"({cluster['network']}); expected an address in it")
        if ip in seen_addresses:
            errors.append(f"{here}:address: {address} is also the address of member "
                          f"{seen_addresses[ip]}; expected distinct addresses")
        seen_addresses.setdefault(ip, mid)

    if not cluster["db_members"]:
        errors.append(f"{path}:members: no member has role db; expected at least one")


def _check_dcs(clusters, name, cluster, path, errors):
    own = cluster["dcs_members"]
    dcs = cluster["dcs"]
    other, endpoints = dcs.get("cluster"), dcs.get("endpoints")
    lab = cluster.get("lab", False)
    if not isinstance(lab, bool):
        errors.append(f"{path}:lab: must be true or false, not {_kind(lab)}")
    if own:
        listed = ", ".join(map(str, own))
        if len(own) % 2 == 0:
            errors.append(f"{path}:members: {len(own)} members with role dcs ({listed}); expected "
                          "an odd number (3, 5, ...) so that etcd keeps a majority")
        elif len(own) < 3 and lab is not True:
            errors.append(f"{path}:members: only {len(own)} member with role dcs ({listed}); "
                          "expected at least 3, or lab: true for a test cluster")
        if other or endpoints:
            errors.append(f"{path}:dcs: members with role dcs and dcs:cluster or dcs:endpoints are "
                          "both set; expected either its own etcd members or another etcd")
    elif not other and not endpoints:
        errors.append(f"{path}:dcs: no etcd: no member has role dcs and neither dcs:cluster nor "
                      "dcs:endpoints is set; expected one of them")

    if other is not None:
        others = [n for n in clusters if n != name]
        if not isinstance(other, str) or other not in others:
            errors.append(f"{path}:dcs:cluster: {other!r} is not another cluster in pillar "
                          f"(accepted: {_names(others) or 'none'})")
        elif not any("dcs" in _roles(spec) for spec in _members(clusters[other]).values()):
            errors.append(f"{path}:dcs:cluster: cluster {other!r} has no member with role dcs; "
                          "expected a cluster that runs etcd")
        if endpoints:
            errors.append(f"{path}:dcs: dcs:cluster and dcs:endpoints are both set; "
                          "expected one of them")
    _check_etcd_auth(clusters[name], cluster, path, errors)
    if endpoints is not None and not isinstance(endpoints, list):
        errors.append(f"{path}:dcs:endpoints: must be a list of URLs, not {_kind(endpoints)}")
    elif endpoints:
        for index, url in enumerate(endpoints):
            # The URL itself is not quoted: it may carry credentials.
            if _url_host(url, None) is None:
                errors.append(f"{path}:dcs:endpoints: item {index} is not an etcd client URL; "
                              "expected http://HOST:PORT")


def _check_etcd_auth(raw, cluster, path, errors):
    auth = _mapping(_mapping(raw).get("etcd")).get("auth")
    here = f"{path}:etcd:auth"
    if auth is None:
        return
    if not isinstance(auth, bool):
        errors.append(f"{here}: must be true or false, not {_kind(auth)}")
    elif not cluster["dcs_members"]:
        errors.append(f"{here}: set on a cluster that runs no etcd; the etcd's own cluster "
                      "decides (an external etcd's users are not the formula's)")
    elif auth and not _tls_on(cluster):
        errors.append(f"{here}: true with tls:enabled false; etcd's passwords would cross the "
                      "network in plain text; expected TLS on, or auth false")


def _check_standby(clusters, name, cluster, path, errors):
    """A standby cluster follows another cluster of pillar (standby:cluster). Returns the
    pillar path its users, roles and databases are checked under: its own, its source's,
    or None when the source is unusable (its error says why)."""
    source, here = cluster["standby"].get("cluster"), f"{path}:standby:cluster"
    if source is None:
        return path
    others = [other for other in clusters if other != name]
    if source == name:
        errors.append(f"{here}: a cluster cannot stand by on itself; expected another cluster "
                      f"(accepted: {_names(others) or 'none'})")
        return None
    if not (isinstance(source, str) and source in others):
        errors.append(f"{here}: {source!r}: no such cluster in pillar (accepted: "
                      f"{_names(others) or 'none'})")
        return None
    theirs = _mapping(clusters[source])
    chained = _mapping(theirs.get("standby")).get("cluster")
    if chained is not None:
        errors.append(f"{here}: cluster {source!r} is itself a standby (of {chained!r}); expected "
                      "a cluster that is not: standby clusters do not chain")
    if not (any("balancer" in _roles(spec) for spec in _members(theirs).values())
            or _mapping(theirs.get("vip")).get("address")):
        errors.append(f"{here}: cluster {source!r} has no member with role balancer and no vip: "
                      "no read-write endpoint (HAProxy rw_port) to stream from; expected a "
                      "cluster with balancers")
    for key in ("users", "roles", "databases"):
        if key in clusters[name]:
            errors.append(f"{path}:{key}: set on a standby cluster; its users, roles and "
                          f"databases come from its source pgsalt:clusters:{source} (its data "
                          f"is a copy of the source's); expected no {key} here")
    if cluster["pgbackrest"].get("enabled") is True:
        errors.append(f"{path}:pgbackrest:enabled: true on a standby cluster; WAL is archived "
                      f"and backed up on its source pgsalt:clusters:{source}; expected false")
    return f"pgsalt:clusters:{source}"


def _role_ports(cluster):
    """(role, settings, key, label) of every port the cluster's hosts listen on."""
    found = [(role, _mapping(cluster.get(section)), key, f"{section}:{key}")
             for role, keys in ROLE_PORTS.items() for section, key in keys]
    if any("monitor" in m["roles"] for m in cluster["members"].values()):
        settings = _mapping(_mapping(cluster.get("monitoring")).get("ports"))
        found += [(role, settings, key, f"monitoring:ports:{key}")
                  for key, role in MONITORING_PORTS]
    return found


def _check_ports(cluster, path, errors):
    ports = {}
    for role, settings, key, where in _role_ports(cluster):
        if key not in settings:
            continue
        port, label = settings[key], f"{path}:{where}"
        if not _is_int(port) or not 1 <= port <= 65535:
            errors.append(f"{label}: {port!r} is not a port; expected an int from 1 to 65535")
        else:
            ports.setdefault(role, []).append((label, port))
    reported = set()
    for mid in sorted(cluster["members"], key=str):
        used = {}
        for role in ports:
            if role != "member" and role not in cluster["members"][mid]["roles"]:
                continue
            for label, port in ports[role]:
                if port in used and (used[port], label) not in reported:
                    reported.add((used[port], label))
                    errors.append(f"{label}: port {port} is also {used[port]}, on member {mid}; "
                                  "expected distinct ports on one host")
                used.setdefault(port, label)


def _check_password(value, path, errors):
    if value is None:
        errors.append(f"{path}: missing; expected a string of at least {MIN_PASSWORD} characters "
                      "(there is no default)")
    elif not isinstance(value, str):
        errors.append(f"{path}: must be a string of at least {MIN_PASSWORD} characters, "
                      f"not {_kind(value)}")
    elif len(value) < MIN_PASSWORD:
        errors.append(f"{path}: shorter than {MIN_PASSWORD} characters; expected at least "
                      f"{MIN_PASSWORD}")
    elif PLACEHOLDER_PASSWORD.search(value) or value.lower() in KNOWN_PASSWORDS:
        errors.append(f"{path}: a published default or placeholder; expected a password of "
                      "your own")


def _check_users(cluster, path, errors):
    users = _mapping(cluster.get("users"))
    for user in SYSTEM_USERS + (("etcd",) if cluster.get("etcd_auth") else ()):
        here = f"{path}:users:{user}"
        spec = users.get(user)
        if not isinstance(spec, dict):
            errors.append(f"{here}: missing; expected a mapping with name and password")
            continue
        # etcd's login name may stay null: patroni-SCOPE.
        named = spec.get("name") is not None or (user != "etcd" and "name" in spec)
        if named and not (isinstance(spec["name"], str) and spec["name"]):
            errors.append(f"{here}:name: must be a non-empty string, not {_kind(spec['name'])}")
        _check_password(spec.get("password"), f"{here}:password", errors)

    roles = cluster.get("roles")
    if roles is not None and not isinstance(roles, dict):
        errors.append(f"{path}:roles: must be a mapping of role names, not {_kind(roles)}")
        return
    for role, spec in _mapping(roles).items():
        here = f"{path}:roles:{role}"
        spec = _check_entry(spec, ROLE_KEYS, here, errors)
        if spec is None:
            continue
        for flag in ROLE_FLAGS:
            if flag in spec and not isinstance(spec[flag], bool):
                errors.append(f"{here}:{flag}: must be true or false, not {_kind(spec[flag])}")
        limit = spec.get("connection_limit")
        if limit is not None and not (_is_int(limit) and limit >= -1):
            errors.append(f"{here}:connection_limit: {limit!r} is not a connection limit; "
                          "expected an int, -1 for none")
        if spec.get("login", True) is not False:
            _check_password(spec.get("password"), f"{here}:password", errors)


def _check_databases(cluster, path, errors):
    databases = cluster.get("databases")
    if databases is not None and not isinstance(databases, dict):
        errors.append(f"{path}:databases: must be a mapping of database names, "
                      f"not {_kind(databases)}")
        return
    owners = set(_mapping(cluster.get("roles")))
    superuser = _mapping(_mapping(cluster.get("users")).get("superuser")).get("name")
    if isinstance(superuser, str):
        owners.add(superuser)
    for database, spec in _mapping(databases).items():
        here = f"{path}:databases:{database}"
        spec = _check_entry(spec, DATABASE_KEYS, here, errors)
        if spec is None:
            continue
        owner = spec.get("owner")
        if owner is None:
            errors.append(f"{here}:owner: missing; expected a role of {path}:roles "
                          f"(accepted: {_names(owners) or 'none'})")
        elif owner not in owners:
            errors.append(f"{here}:owner: {owner!r} is not a role of {path}:roles "
                          f"(accepted: {_names(owners) or 'none'})")
        encoding = spec.get("encoding")
        if encoding is not None and not isinstance(encoding, str):
            errors.append(f"{here}:encoding: must be a string such as UTF8, not {_kind(encoding)}")
        extensions = spec.get("extensions")
        if extensions is not None and not (
            isinstance(extensions, list) and all(isinstance(ext, str) for ext in extensions)
        ):
            errors.append(f"{here}:extensions: must be a list of extension names (strings)")


def _check_pools(cluster, path, errors):
    pgbouncer = _mapping(cluster.get("pgbouncer"))
    parameters = _mapping(cluster.get("postgresql")).get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        errors.append(f"{path}:postgresql:parameters: must be a mapping, not {_kind(parameters)}")
    mode = pgbouncer.get("pool_mode")
    if "pool_mode" in pgbouncer and mode not in POOL_MODES:
        errors.append(f"{path}:pgbouncer:pool_mode: {mode!r} is not a pool mode "
                      f"(accepted: {', '.join(POOL_MODES)})")
    sizes = {}
    for key in ("max_db_connections", "default_pool_size"):
        if key in pgbouncer:
            if _is_int(pgbouncer[key]) and pgbouncer[key] > 0:
                sizes[key] = pgbouncer[key]
            else:
                errors.append(f"{path}:pgbouncer:{key}: {pgbouncer[key]!r} is not a pool size; "
                              "expected a positive int")
    per_db = sizes.get("max_db_connections")
    if per_db and sizes.get("default_pool_size", 0) > per_db:
        errors.append(f"{path}:pgbouncer:default_pool_size: {sizes['default_pool_size']} is above "
                      f"{path}:pgbouncer:max_db_connections ({per_db}); expected at most that")

    max_connections = _mapping(parameters).get("max_connections")
    if max_connections is None:
        return
    if isinstance(max_connections, str) and max_connections.isdigit():
        max_connections = int(max_connections)
    if not _is_int(max_connections) or max_connections < 1:
        errors.append(f"{path}:postgresql:parameters:max_connections: {max_connections!r} is not "
                      "a connection count; expected a positive int")
        return
    balancers = len(cluster["balancer_members"])
    databases = len(_mapping(cluster.get("databases")))
    if not (per_db and balancers and databases):
        return
    # Each balancer's PgBouncer has a read-write and a read-only pool per database; in a
    # switchover one server may briefly hold both.
    total = balancers * 2 * databases * per_db
    limit = max_connections - RESERVED_CONNECTIONS
    if total > limit:
        errors.append(
            f"{path}:pgbouncer:max_db_connections: {balancers} balancer(s) x 2 pools x "
            f"{databases} database(s) x {per_db} = {total} server connections, above "
            f"{path}:postgresql:parameters:max_connections ({max_connections}) minus "
            f"{RESERVED_CONNECTIONS} kept for superuser and replication = {limit}; expected "
            f"max_db_connections of at most {max(limit, 0) // (balancers * 2 * databases)} "
            "or a higher max_connections"
        )


def _check_patroni(cluster, path, errors):
    patroni = cluster["patroni"]
    source = patroni.get("source")
    if "source" in patroni and source not in PATRONI_SOURCES:
        errors.append(f"{path}:patroni:source: {source!r} is not a Patroni source "
                      f"(accepted: {', '.join(PATRONI_SOURCES)})")
    start = patroni.get("primary_start_timeout")
    if "primary_start_timeout" in patroni and not (_is_int(start) and start >= 0):
        errors.append(f"{path}:patroni:primary_start_timeout: {start!r} is not a number of "
                      "seconds; expected null (0 with synchronous_mode, else 300) or an int "
                      ">= 0")
    if "profiles" not in patroni:
        return
    profiles = patroni["profiles"]
    if not isinstance(profiles, dict):
        errors.append(f"{path}:patroni:profiles: must be a mapping of profile names, "
                      f"not {_kind(profiles)}")
        return
    timing = patroni.get("timing")
    if "timing" in patroni and not (isinstance(timing, str) and timing in profiles):
        errors.append(f"{path}:patroni:timing: {timing!r} is not a profile of "
                      f"{path}:patroni:profiles (accepted: {_names(profiles)})")
    for profile, spec in profiles.items():
        here = f"{path}:patroni:profiles:{profile}"
        spec = _check_entry(spec, PROFILE_KEYS, here, errors)
        if spec is None:
            continue
        values = {}
        for key in PROFILE_KEYS:
            if _is_int(spec.get(key)) and spec[key] > 0:
                values[key] = spec[key]
            else:
                errors.append(f"{here}:{key}: {spec.get(key)!r} is not a number of seconds; "
                              "expected a positive int")
        if len(values) < len(PROFILE_KEYS):
            continue
        ttl, needed = values["ttl"], values["loop_wait"] + 2 * values["retry_timeout"]
        if ttl < needed:
            errors.append(f"{here}:ttl: {ttl} is less than loop_wait + 2 x retry_timeout "
                          f"({needed}); expected at least {needed}")
        if ttl < MIN_TTL:
            errors.append(f"{here}:ttl: {ttl} is below {MIN_TTL}, which Patroni refuses; "
                          f"expected at least {MIN_TTL}")


def _check_postgresql(cluster, path, errors):
    postgresql = cluster["postgresql"]
    version = postgresql.get("version")
    if version is not None and not (_is_int(version) and version in PG_VERSIONS):
        errors.append(f"{path}:postgresql:version: {version!r} is not supported; expected null "
                      f"(the host release's) or an int from {PG_VERSIONS[0]} to {PG_VERSIONS[-1]}")
    probe = {"version": 0, "scope": "x"}
    templates = [("data_dir", postgresql.get("data_dir")), ("bin_dir", postgresql.get("bin_dir"))]
    packages = postgresql.get("packages")
    if isinstance(packages, list):
        templates += [("packages", pkg) for pkg in packages]
    elif packages is not None:
        errors.append(f"{path}:postgresql:packages: must be a list, not {_kind(packages)}")
    for key, template in templates:
        if template is None:
            continue
        try:
            template.format(**probe)
        except (KeyError, IndexError, ValueError, AttributeError):
            errors.append(f"{path}:postgresql:{key}: must be a string whose only placeholders "
                          "are {version} and {scope}")


def _section(cluster, key):
    if not isinstance(cluster.get(key), dict):
        cluster[key] = {}
    return cluster[key]


def _mapping(value):
    return value if isinstance(value, dict) else {}


def _members(cluster):
    """The cluster's members; one set to null is none (how layered pillar takes one out)."""
    return {mid: spec for mid, spec in _mapping(_mapping(cluster).get("members")).items()
            if spec is not None}


def _roles(spec):
    roles = _mapping(spec).get("roles")
    return roles if isinstance(roles, list) else []


def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _names(keys):
    return ", ".join(sorted(map(str, keys)))


def _kind(value):
    """Name a value's type for a message; the value itself may be a secret."""
    kinds = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
             str: "a string", list: "a list", dict: "a mapping"}
    return kinds.get(type(value), type(value).__name__)


def _format(template, values):
    """Fill {version} and {scope}; return the template itself when it cannot be filled."""
    if not isinstance(template, str):
        return template
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError, AttributeError):
        return template


def _network(value):
    if not isinstance(value, str):
        return None
    try:
        return ipaddress.ip_network(value, strict=False)
    except ValueError:
        return None


def _pick_address(candidates, network):
    """Return the first candidate inside network (the first one when network is None)."""
    if isinstance(candidates, str):
        candidates = [candidates]
    for candidate in candidates if isinstance(candidates, list) else []:
        if network is None:
            return candidate
        try:
            if ipaddress.ip_address(candidate) in network:
                return candidate
        except ValueError:
            continue
    return None


def _dcs_addresses(cluster):
    return [(mid, cluster["members"][mid]["address"]) for mid in cluster["dcs_members"]]


def _host_port(address, port):
    if ":" in str(address):
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def _url_host(url, default_port):
    """Return an http(s) URL's HOST:PORT, or None when it is not one or lacks a port."""
    if not isinstance(url, str):
        return None
    parts = urllib.parse.urlsplit(url)
    try:
        port = parts.port if parts.port is not None else default_port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or port is None:
        return None
    return _host_port(parts.hostname, port)


def _check_backup(cluster, path, errors):
    settings, here = cluster["pgbackrest"], f"{path}:pgbackrest"
    enabled = settings.get("enabled", False)
    repositories = cluster["backup_members"]
    if not isinstance(enabled, bool):
        errors.append(f"{here}:enabled: must be true or false, not {_kind(enabled)}")
        return
    if repositories and not enabled:
        errors.append(f"{path}:members: {', '.join(map(str, repositories))} has role backup but "
                      f"{here}:enabled is false; expected enabled: true, or no backup role")
    for mid in repositories:
        if "db" in cluster["members"][mid]["roles"]:
            errors.append(f"{path}:members:{mid}:roles: backup and db on one host; expected the "
                          "repository on a host of its own, which a lost database host spares")
    if not enabled:
        return
    repository = _mapping(settings.get("repository"))
    kind = repository.get("type")
    if "type" in repository and kind not in REPOSITORY_TYPES:
        errors.append(f"{here}:repository:type: {kind!r} is not a repository type "
                      f"(accepted: {', '.join(REPOSITORY_TYPES)})")
    elif kind == "tls" and len(repositories) != 1:
        found = ", ".join(map(str, repositories)) or "none"
        errors.append(f"{path}:members: backups use a repository host (repository:type tls) and "
                      f"{len(repositories)} member(s) have role backup ({found}); expected exactly "
                      "one, or repository:type posix for a path mounted on the db hosts")
    elif kind == "posix" and settings.get("backup_standby"):
        errors.append(f"{here}:backup_standby: needs a repository host (repository:type tls)")
    repo_path = repository.get("path", "/")
    if not (isinstance(repo_path, str) and repo_path.startswith("/")):
        errors.append(f"{here}:repository:path: must be an absolute path")
    for key, allowed in (("cipher", CIPHERS), ("compress_type", COMPRESS_TYPES)):
        if key in settings and settings[key] not in allowed:
            errors.append(f"{here}:{key}: {settings[key]!r} is not accepted "
                          f"(accepted: {', '.join(allowed)})")
    if settings.get("cipher") == "aes-256-cbc":
        _check_password(settings.get("passphrase"), f"{here}:passphrase", errors)
    _check_retention(_mapping(settings.get("retention")), f"{here}:retention", errors)
    for key in ("process_max", "archive_get_timeout", "archive_push_timeout"):
        if key in settings and not (_is_int(settings[key]) and settings[key] > 0):
            errors.append(f"{here}:{key}: {settings[key]!r} must be a positive int")
    schedule = settings.get("schedule", {})
    if not isinstance(schedule, dict):
        errors.append(f"{here}:schedule: must be a mapping of backup types, not {_kind(schedule)}")
        return
    for kind, spec in schedule.items():
        if kind not in BACKUP_TYPES:
            errors.append(f"{here}:schedule:{kind}: unknown backup type "
                          f"(accepted: {', '.join(BACKUP_TYPES)})")
        elif spec is not None and not _is_calendar(spec):
            errors.append(f"{here}:schedule:{kind}: {spec!r} does not parse as a systemd "
                          "OnCalendar expression; expected e.g. 'Sun *-*-* 01:00:00' or daily")


def _check_retention(retention, here, errors):
    kind = retention.get("full_type", "count")
    if kind not in RETENTION_TYPES:
        errors.append(f"{here}:full_type: {kind!r} is not accepted "
                      f"(accepted: {', '.join(RETENTION_TYPES)})")
    for key in ("full", "diff"):
        value = retention.get(key)
        if key not in retention or (key == "diff" and value is None):
            continue
        if not (_is_int(value) and value > 0):
            errors.append(f"{here}:{key}: {value!r} keeps nothing; expected a positive int "
                          "(backups, or days for full with full_type: time)")


def _check_vip(clusters, name, cluster, path, errors):
    """The virtual IP, when vip:address is set: where it lives, and what Keepalived needs."""
    vip, here = cluster["vip"], f"{path}:vip"
    address = vip.get("address")
    if address is None:
        given = [key for key in ("interface", "virtual_router_id", "password")
                 if vip.get(key) is not None]
        if given:
            errors.append(f"{here}:address: missing, but vip:{', vip:'.join(given)} set; "
                          "expected the virtual IP, or no vip settings")
        return
    try:
        ip = ipaddress.IPv4Address(address if isinstance(address, str) else None)
    except ValueError:
        errors.append(f"{here}:address: {address!r} is not an IPv4 address; expected e.g. "
                      "10.77.0.250 (VRRPv2, which has authentication, is IPv4 only)")
        ip = None
    network = _network(cluster.get("network"))
    if ip is not None and network is not None and ip not in network:
        errors.append(f"{here}:address: {address} is not inside {path}:network "
                      f"({cluster['network']}); expected an address in it")
    for mid, spec in sorted(cluster["members"].items(), key=lambda item: str(item[0])):
        if ip is not None and spec["address"] == str(ip):
            errors.append(f"{here}:address: {address} is the address of member {mid}; expected "
                          "an address no host has")
    balancers = cluster["balancer_members"]
    if len(balancers) < 2:
        errors.append(f"{here}:address: a virtual IP moves between balancers and "
                      f"{len(balancers)} member(s) have role balancer "
                      f"({', '.join(map(str, balancers)) or 'none'}); expected at least 2")
    interface = vip.get("interface")
    if interface is None:
        errors.append(f"{here}:interface: missing; expected the network interface that holds "
                      "the members' addresses, e.g. eth0")
    elif not (isinstance(interface, str) and re.fullmatch(r"[^\s/:]{1,15}", interface)):
        errors.append(f"{here}:interface: {interface!r} is not an interface name; expected "
                      "e.g. eth0")
    _check_router_id(clusters, name, cluster, here, errors)
    _check_vrrp_password(vip.get("password"), f"{here}:password", errors)
    _check_vrrp_tuning(cluster, path, errors)


def _check_vrrp_tuning(cluster, path, errors):
    vip, here, balancers = cluster["vip"], f"{path}:vip", cluster["balancer_members"]
    advert = vip.get("advert_int", 1)
    if not (_is_int(advert) and 1 <= advert <= 255):
        errors.append(f"{here}:advert_int: {advert!r} is not an advert interval; expected an "
                      "int from 1 to 255 (seconds)")
    if not isinstance(vip.get("preempt", False), bool):
        errors.append(f"{here}:preempt: must be true or false, not {_kind(vip['preempt'])}")
    priority = vip.get("priority", {})
    if not isinstance(priority, dict):
        errors.append(f"{here}:priority: must be a mapping of balancers, not {_kind(priority)}")
        priority = {}
    for mid, value in priority.items():
        if mid not in balancers:
            errors.append(f"{here}:priority:{mid}: not a member with role balancer "
                          f"(accepted: {_names(balancers) or 'none'})")
        elif not (_is_int(value) and 1 <= value <= 254):
            errors.append(f"{here}:priority:{mid}: {value!r} is not a VRRP priority; expected "
                          "an int from 1 to 254")
    check = _mapping(_mapping(cluster.get("keepalived")).get("check"))
    for key, value in check.items():
        if not (_is_int(value) and value > 0):
            errors.append(f"{path}:keepalived:check:{key}: {value!r} must be a positive int")


def _check_vrrp_password(password, here, errors):
    """VRRPv2 PASS authentication carries 8 characters, in clear in every advert: it keeps
    a stray router with the same id out, not anyone who reads the network."""
    if password is None:
        errors.append(f"{here}: missing; expected 8 characters (there is no default)")
    elif not isinstance(password, str):
        errors.append(f"{here}: must be a string of 8 characters, not {_kind(password)}")
    elif len(password) != 8:
        errors.append(f"{here}: {'shorter' if len(password) < 8 else 'longer'} than 8 "
                      "characters; expected exactly 8, all that VRRP authentication carries "
                      "(keepalived would cut the rest)")
    elif not VRRP_PASSWORD.fullmatch(password):
        errors.append(f"{here}: expected letters, digits and ._+=@%:,/~^- only, which "
                      "keepalived.conf takes unquoted")
    elif PLACEHOLDER_PASSWORD.search(password):
        errors.append(f"{here}: a published default or placeholder; expected a password of "
                      "your own")


def _check_router_id(clusters, name, cluster, here, errors):
    """1-255, and no other VIP in pillar on an overlapping network has it."""
    router_id = cluster["vip"].get("virtual_router_id")
    if router_id is None:
        errors.append(f"{here}:virtual_router_id: missing; expected an int from 1 to 255, "
                      "unique on the network")
        return
    if not (_is_int(router_id) and 1 <= router_id <= 255):
        errors.append(f"{here}:virtual_router_id: {router_id!r} is not a VRRP router id; "
                      "expected an int from 1 to 255")
        return
    for other in sorted(clusters, key=str):
        theirs = _mapping(_mapping(clusters[other]).get("vip"))
        if other == name or theirs.get("address") is None:
            continue
        if theirs.get("virtual_router_id") == router_id and _same_network(
                cluster.get("network"), _mapping(clusters[other]).get("network")):
            errors.append(f"{here}:virtual_router_id: {router_id} is also the router id of "
                          f"pgsalt:clusters:{other}:vip, on the same network; expected an id "
                          "of its own")


def _same_network(one, other):
    if one == other:
        return True
    one, other = _network(one), _network(other)
    return (one is not None and other is not None and one.version == other.version
            and one.overlaps(other))


CALENDAR_WORDS = ("minutely", "hourly", "daily", "weekly", "monthly", "yearly", "annually",
                  "quarterly", "semiannually")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# One field of a date or time: *, N, A..B, with /STEP, or a comma list of those.
_FIELD = r"(?:\*|\d+(?:\.\.\d+)?)(?:/\d+)?"
_LIST = rf"{_FIELD}(?:,{_FIELD})*"


def _is_calendar(spec):
    """Whether ``spec`` is a systemd OnCalendar expression (the forms of systemd.time(7):
    shorthands, weekdays, date, time, timezone), with the fields' ranges checked."""
    if not isinstance(spec, str) or not spec.strip():
        return False
    words = spec.split()
    if len(words) == 1 and words[0].lower() in CALENDAR_WORDS:
        return True
    if words and re.fullmatch(r"[A-Za-z]+(?:\.\.[A-Za-z]+)?(?:,[A-Za-z]+(?:\.\.[A-Za-z]+)?)*",
                              words[0]) and "/" not in words[0] and "-" not in words[0]:
        days = re.split(r"\.\.|,", words[0].lower())
        if not all(day[:3] in WEEKDAYS for day in days):
            return False
        words = words[1:]
    if words and words[-1] != "*" and re.fullmatch(r"UTC|[A-Z][A-Za-z_]+/[A-Za-z_/]+", words[-1]):
        words = words[:-1]
    if not words:
        return True  # weekdays alone, e.g. "Sat"
    if len(words) > 2:
        return False
    limits = {"date": ((0, 9999), (1, 12), (1, 31)), "time": ((0, 23), (0, 59), (0, 59))}
    parsed = set()
    for word in words:
        part = "time" if ":" in word else "date"
        pieces = re.split("[-~]" if part == "date" else ":", word.replace("-~", "~"))
        if part == "time":
            pieces[-1] = pieces[-1].split(".")[0]
        wanted = limits[part][-len(pieces):] if part == "date" else limits[part][:len(pieces)]
        if part in parsed or not 2 <= len(pieces) <= 3:
            return False
        parsed.add(part)
        for piece, (low, high) in zip(pieces, wanted, strict=True):
            if not re.fullmatch(_LIST, piece):
                return False
            if any(not low <= int(n) <= high for n in re.findall(r"(?<![/\d])\d+", piece)):
                return False
    return True


def restore_plan(plan, request):
    """Check an orch.restore request (pillar ``restore``) against a cluster's plan.

    ``request`` is ``{type, target, leader}``: type one of RESTORE_TYPES (default
    latest), a target for time/lsn/xid/name, and the db member to restore on (default
    the first).
    Returns ``{"errors": [...]}`` or the request completed with ``leader`` and ``replicas``.
    """
    if plan.get("errors"):
        return {"errors": plan["errors"]}
    if not plan.get("backup"):
        return {"errors": [f"pgsalt:clusters:{plan['cluster']}:pgbackrest:enabled: backups are "
                           "off for this cluster; there is nothing to restore from"]}
    request = {} if request is None else request
    if not isinstance(request, dict):
        return {"errors": [f"restore: must be a mapping of {', '.join(RESTORE_KEYS)}, "
                           f"not {_kind(request)}"]}
    errors = [f"restore:{key}: unknown key (accepted keys: {', '.join(RESTORE_KEYS)})"
              for key in request if key not in RESTORE_KEYS]
    kind, target = request.get("type", "latest"), request.get("target")
    if kind not in RESTORE_TYPES:
        errors.append(f"restore:type: {kind!r} is not a recovery target type "
                      f"(accepted: {', '.join(RESTORE_TYPES)})")
    elif kind in ("latest", "immediate"):
        if target is not None:
            errors.append(f"restore:target: type {kind} takes no target")
    elif not _restore_target_ok(kind, target):
        examples = {"time": "'2026-11-26 10:30:00+00'", "lsn": "0/3000060", "xid": "1234",
                    "name": "a restore point made with pg_create_restore_point()"}
        errors.append(f"restore:target: {target!r} is not a {kind} target; expected e.g. "
                      f"{examples[kind]}")
    leader = request.get("leader", plan["db"][0])
    if leader not in plan["db"]:
        errors.append(f"restore:leader: {leader!r} is not a db member of cluster "
                      f"{plan['cluster']} (accepted: {', '.join(plan['db'])})")
    if errors:
        return {"errors": errors}
    return {"errors": [], "type": kind, "target": target, "leader": leader,
            "replicas": [m for m in plan["db"] if m != leader]}


def _restore_target_ok(kind, target):
    if kind == "time":
        try:
            datetime.datetime.fromisoformat(str(target).strip())
        except ValueError:
            return False
        return isinstance(target, str)
    if kind == "lsn":
        return isinstance(target, str) and re.fullmatch(r"[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}",
                                                        target) is not None
    if kind == "xid":
        return (_is_int(target) and target > 2) or (isinstance(target, str) and target.isdigit())
    return isinstance(target, str) and 0 < len(target) < 64


def restore_command(stanza, request):
    """The pgBackRest command Patroni's custom bootstrap runs for an orch.restore request:
    recover to the target and promote. WAL is fetched with long timeouts here: the short
    ones a replica uses would end recovery early on a slow repository."""
    get = f"pgbackrest --stanza={stanza} --archive-timeout=60 --io-timeout=60 archive-get %f \"%p\""
    args = ["/usr/bin/pgbackrest", f"--stanza={stanza}", "restore",
            f"--recovery-option=restore_command={get}"]
    if request["type"] != "latest":
        args.append(f"--type={request['type']}")
        if request["type"] != "immediate":
            args.append(f"--target={request['target']}")
        args.append("--target-action=promote")
    return args


HEAL_NUMBERS = ("interval", "max_lag", "attempts", "window", "backoff", "lock_timeout")


def _check_heal(cluster, path, errors):
    heal, here = cluster["heal"], f"{path}:heal"
    if "enabled" in heal and not isinstance(heal["enabled"], bool):
        errors.append(f"{here}:enabled: must be true or false, not {_kind(heal['enabled'])}")
    for key in HEAL_NUMBERS:
        if key in heal and not (_is_int(heal[key]) and heal[key] > 0):
            errors.append(f"{here}:{key}: {heal[key]!r} must be a positive int")
    drift = _mapping(heal.get("drift"))
    if "interval" in drift and not (_is_int(drift["interval"]) and drift["interval"] >= 0):
        errors.append(f"{here}:drift:interval: {drift['interval']!r} must be an int >= 0 "
                      "(minutes; 0 turns drift checks off)")
    if "repair" in drift and not isinstance(drift["repair"], bool):
        errors.append(f"{here}:drift:repair: must be true or false, not {_kind(drift['repair'])}")


def _check_monitoring(cluster, path, errors):
    m, here = _mapping(cluster.get("monitoring")), f"{path}:monitoring"
    for key in ("scrape_interval", "evaluation_interval"):
        if key in m and not (_is_int(m[key]) and m[key] > 0):
            errors.append(f"{here}:{key}: {m[key]!r} must be a positive int (seconds)")
    alerts = _mapping(m.get("alerts"))
    for key, value in sorted(alerts.items()):
        if not (_is_int(value) or isinstance(value, float)) or value <= 0:
            errors.append(f"{here}:alerts:{key}: {value!r} must be a positive number")
    scrape, down = m.get("scrape_interval"), alerts.get("down_for")
    if _is_int(scrape) and scrape > 0 and _is_int(down) and 0 < down < 2 * scrape:
        errors.append(f"{here}:alerts:down_for: {down} is below two scrape intervals "
                      f"({2 * scrape} s): its window could miss every failed scrape and "
                      f"PGDown / TargetDown would not fire; expected at least {2 * scrape}")


def _check_tls(clusters, cluster, path, errors):
    tls, here = cluster["tls"], f"{path}:tls"
    enabled, insecure = tls.get("enabled", True), cluster.get("insecure_lab", False)
    if not isinstance(insecure, bool):
        errors.append(f"{path}:insecure_lab: must be true or false, not {_kind(insecure)}")
    if not isinstance(enabled, bool):
        errors.append(f"{here}:enabled: must be true or false, not {_kind(enabled)}")
    elif not enabled and insecure is not True:
        errors.append(f"{here}:enabled: false sends passwords and data in plain text; "
                      "expected true, or insecure_lab: true for a test cluster")
    days, renew = tls.get("days"), tls.get("renew_days")
    for key, value in (("days", days), ("renew_days", renew)):
        if key in tls and not (_is_int(value) and value > 0):
            errors.append(f"{here}:{key}: {value!r} must be a positive int (days)")
    if _is_int(days) and _is_int(renew) and 0 < days <= renew:
        errors.append(f"{here}:renew_days: {renew} is not below days ({days}); every deploy "
                      "would renew every certificate")
    _check_dcs_tls(clusters, cluster, path, enabled, insecure, errors)
    own = tls.get("own_ca")
    if own is not None and not isinstance(own, dict):
        errors.append(f"{here}:own_ca: must be a mapping with cert and key, not {_kind(own)}")
    elif own:
        given = [key for key in ("cert", "key") if own.get(key) is not None]
        for key in given:
            if not (isinstance(own[key], str) and own[key].startswith("/")):
                errors.append(f"{here}:own_ca:{key}: {own[key]!r} is no absolute path; "
                              "expected the file's path on the Salt master")
        if len(given) == 1:
            missing = ({"cert", "key"} - set(given)).pop()
            errors.append(f"{here}:own_ca:{missing}: missing; a CA of your own needs its "
                          "cert and its key (paths on the Salt master)")
        if given and cluster["ca_cluster"] != cluster["name"]:
            errors.append(f"{here}:own_ca: set, but this cluster's certificates come from the "
                          f"CA of dcs:cluster {cluster['ca_cluster']}; expected it there")
    pgbouncer, hp = _mapping(cluster.get("pgbouncer")), f"{path}:pgbouncer"
    for key in ("client_tls_sslmode", "server_tls_sslmode"):
        if key in pgbouncer and pgbouncer[key] not in TLS_SSLMODES:
            errors.append(f"{hp}:{key}: {pgbouncer[key]!r} is no TLS mode; expected one of "
                          f"{', '.join(TLS_SSLMODES)}")
    if enabled is True and pgbouncer.get("client_tls_sslmode") in ("disable", "allow", "prefer") \
            and insecure is not True:
        errors.append(f"{hp}:client_tls_sslmode: {pgbouncer['client_tls_sslmode']} lets "
                      "clients log in without TLS; expected require or stronger, or "
                      "insecure_lab: true")


def _check_dcs_tls(clusters, cluster, path, enabled, insecure, errors):
    """The etcd a cluster uses speaks TLS exactly when the cluster does."""
    dcs = cluster["dcs"]
    other = dcs.get("cluster")
    if isinstance(other, str) and other != cluster["name"] and other in clusters \
            and isinstance(enabled, bool):
        theirs = _tls_on(_mapping(clusters[other]))
        if enabled != theirs:
            errors.append(f"{path}:tls:enabled: {str(enabled).lower()}, but the etcd of "
                          f"dcs:cluster {other} has TLS {'on' if theirs else 'off'}; expected "
                          "the same setting in both")
    endpoints = dcs.get("endpoints")
    if isinstance(endpoints, list) and enabled is True and insecure is not True:
        for index, url in enumerate(endpoints):
            if str(url).startswith("http://"):
                errors.append(f"{path}:dcs:endpoints: item {index} is http://; expected "
                              "https:// (an etcd that trusts this cluster's CA), or "
                              "insecure_lab: true")
