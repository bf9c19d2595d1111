"""The pgsalt cluster model: defaults merged with pillar, derived fields, validation.

A cluster lives in pillar at ``pgsalt:clusters:NAME``. :func:`resolve` merges it over
the formula defaults and adds what the states need (addresses, etcd endpoints, ...);
:func:`validate` lists what is wrong with it, each error naming the pillar key path.

Standard library only and no Salt dunders, so that Salt can load it as a utils module
(``__utils__['pgsalt_model.resolve'](...)``) and tests can import it directly.
"""

import copy
import ipaddress
import urllib.parse

# Salt's loader publishes every function listed here and nothing else.
__all__ = ["merge", "defaults_for", "resolve", "find_cluster", "validate", "plan"]

COMPONENTS = ("etcd", "postgresql", "patroni", "pgbouncer", "haproxy")
ROLES = ("dcs", "db", "balancer", "backup", "monitor")
MEMBER_KEYS = ("roles", "address")
ROLE_KEYS = (
    "password", "login", "superuser", "createdb", "createrole", "replication", "connection_limit",
)
ROLE_FLAGS = ("login", "superuser", "createdb", "createrole", "replication")
DATABASE_KEYS = ("owner", "encoding", "extensions")
PROFILE_KEYS = ("ttl", "loop_wait", "retry_timeout")
SYSTEM_USERS = ("superuser", "replication", "rewind", "pgbouncer_auth")
PATRONI_SOURCES = ("package", "venv")
POOL_MODES = ("session", "transaction", "statement")
PG_VERSIONS = range(13, 19)
MIN_PASSWORD = 16
MIN_TTL = 20  # Patroni refuses a lower ttl
# Kept free of PgBouncer's pools for superuser and replication connections.
RESERVED_CONNECTIONS = 10
# Ports each role listens on, as (section, key); one host must not use a port twice.
ROLE_PORTS = {
    "dcs": (("etcd", "client_port"), ("etcd", "peer_port")),
    "db": (("postgresql", "port"), ("patroni", "port")),
    "balancer": (
        ("haproxy", "rw_port"), ("haproxy", "ro_port"), ("haproxy", "stats_port"),
        ("pgbouncer", "port"),
    ),
}
# Maps whose keys are names chosen in pillar, not settings; the unknown-key check
# stops there and the checks of members, roles, databases and profiles take over.
OPEN_MAPS = {
    ("members",), ("roles",), ("databases",), ("postgresql", "parameters"),
    ("patroni", "profiles"),
}


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
    ``balancer_members``, ``etcd_endpoints``, ``etcd_hosts``, ``etcd_initial_cluster``
    and ``unaddressed`` (members, own or of the etcd cluster used, whose address is
    unknown; they are left out of the etcd lists). Raises ValueError for an unknown name.
    """
    cluster = _resolve_one(name, clusters, defaults, osfinger, addresses)
    etcd, dcs = cluster["etcd"], cluster["dcs"]
    own = _dcs_addresses(cluster)
    unaddressed = set(cluster["unaddressed"])

    cluster["etcd_initial_cluster"] = ",".join(
        f"{mid}=http://{_host_port(addr, etcd.get('peer_port'))}" for mid, addr in own if addr
    )
    other, endpoints = dcs.get("cluster"), dcs.get("endpoints")
    if other:
        hosts = []
        if isinstance(other, str) and other != name and other in clusters:
            peer = _resolve_one(other, clusters, defaults, osfinger, addresses)
            port = peer["etcd"].get("client_port")
            for mid, addr in _dcs_addresses(peer):
                if addr:
                    hosts.append(_host_port(addr, port))
                else:
                    unaddressed.add(mid)
        cluster["etcd_endpoints"] = [f"http://{host}" for host in hosts]
        cluster["etcd_hosts"] = hosts
    elif endpoints and isinstance(endpoints, list):
        cluster["etcd_endpoints"] = list(endpoints)
        cluster["etcd_hosts"] = [
            host for host in (_url_host(url, etcd.get("client_port")) for url in endpoints) if host
        ]
    else:
        hosts = [_host_port(addr, etcd.get("client_port")) for _, addr in own if addr]
        cluster["etcd_endpoints"] = [f"http://{host}" for host in hosts]
        cluster["etcd_hosts"] = hosts
    cluster["unaddressed"] = sorted(unaddressed, key=str)
    return cluster


def _resolve_one(name, clusters, defaults, osfinger, addresses):
    """Everything :func:`resolve` computes except the etcd lists, which need other clusters."""
    clusters = clusters or {}
    if name not in clusters:
        raise ValueError(f"pgsalt:clusters:{name}: no such cluster in pillar")
    cluster = merge(defaults_for(defaults, osfinger), clusters[name])
    cluster["name"] = name
    if cluster.get("scope") is None:
        cluster["scope"] = name
    for key in ("etcd", "postgresql", "patroni", "dcs"):
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

    network = _network(cluster.get("network"))
    # With a network that does not parse, no address is better than a wrong one.
    usable = network is not None or cluster.get("network") is None
    addresses = addresses or {}
    members = {}
    for mid, spec in _mapping(cluster.get("members")).items():
        spec = dict(spec) if isinstance(spec, dict) else {}
        spec["roles"] = list(spec["roles"]) if isinstance(spec.get("roles"), list) else []
        if spec.get("address") is None:
            spec["address"] = _pick_address(addresses.get(mid), network) if usable else None
        members[mid] = spec
    cluster["members"] = members
    for role in ("dcs", "db", "balancer"):
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
    _check_users(cluster, path, errors)
    _check_databases(cluster, path, errors)
    _check_pools(cluster, path, errors)
    _check_patroni(cluster, path, errors)
    _check_postgresql(cluster, path, errors)
    return errors


def plan(clusters, name=None, defaults=None, known_minions=None):
    """Validate cluster NAME and say who does what: the plan an orchestration follows.

    Returns ``{"cluster", "errors"}`` when the pillar is refused, else also the sorted
    minion ids ``members``, ``dcs``, ``db`` and ``balancer``, and ``dcs_cluster``.
    """
    errors = validate(clusters, name, defaults, known_minions)
    if errors:
        return {"cluster": name, "errors": errors}
    name = name or next(iter(clusters))
    resolved = resolve(name, clusters, defaults or {})
    return {
        "cluster": name,
        "errors": [],
        "members": sorted(resolved["members"]),
        "dcs": resolved["dcs_members"],
        "db": resolved["db_members"],
        "balancer": resolved["balancer_members"],
        "dcs_cluster": resolved["dcs"].get("cluster"),
    }


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
    for mid, spec in _mapping(members).items():
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
    if endpoints is not None and not isinstance(endpoints, list):
        errors.append(f"{path}:dcs:endpoints: must be a list of URLs, not {_kind(endpoints)}")
    elif endpoints:
        for index, url in enumerate(endpoints):
            # The URL itself is not quoted: it may carry credentials.
            if _url_host(url, None) is None:
                errors.append(f"{path}:dcs:endpoints: item {index} is not an etcd client URL; "
                              "expected http://HOST:PORT")


def _check_ports(cluster, path, errors):
    ports = {role: [] for role in ROLE_PORTS}
    for role, keys in ROLE_PORTS.items():
        for section, key in keys:
            settings = _mapping(cluster.get(section))
            if key not in settings:
                continue
            port, label = settings[key], f"{path}:{section}:{key}"
            if not _is_int(port) or not 1 <= port <= 65535:
                errors.append(f"{label}: {port!r} is not a port; expected an int from 1 to 65535")
            else:
                ports[role].append((label, port))
    reported = set()
    for mid in sorted(cluster["members"], key=str):
        used = {}
        for role in ROLE_PORTS:
            if role not in cluster["members"][mid]["roles"]:
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


def _check_users(cluster, path, errors):
    users = _mapping(cluster.get("users"))
    for user in SYSTEM_USERS:
        here = f"{path}:users:{user}"
        spec = users.get(user)
        if not isinstance(spec, dict):
            errors.append(f"{here}: missing; expected a mapping with name and password")
            continue
        if "name" in spec and not (isinstance(spec["name"], str) and spec["name"]):
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
    return _mapping(_mapping(cluster).get("members"))


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
