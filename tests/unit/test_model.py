"""Unit tests of _utils/pgsalt_model.py: merging, resolving and validating clusters."""

import copy
import pathlib

import loaders
import pgsalt_model as model
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]
KNOWN = ["pg1", "pg2", "pg3", "pg4"]
# Mine data as network.ip_addrs returns it: a NAT address first, the bed's second.
ADDRESSES = {f"pg{i}": [f"192.168.100.{i}", f"10.77.0.1{i}"] for i in range(1, 6)}
# tls:own_ca: a CA of the operator's own, paths on the Salt master.
OWN_CA = {"cert": "/srv/pki/ca.crt", "key": "/srv/pki/ca.key"}


def load_yaml(relative):
    return yaml.safe_load((ROOT / relative).read_text())


@pytest.fixture(scope="module")
def defaults():
    return {
        name: load_yaml(f"salt/{name}/defaults.yaml")
        for name in ("pgsalt", *model.COMPONENTS)
    }


@pytest.fixture
def clusters():
    """pgsalt:clusters as the bed's pillar top file assembles it (demo and second)."""
    result = {}
    for sls in ("demo", "second"):
        result.update(load_yaml(f"pillar/pgsalt/{sls}.sls")["pgsalt"]["clusters"])
    return result


@pytest.fixture
def valid(clusters):
    """The pillar as shipped: the demo and second clusters."""
    return clusters


def passwords(clusters):
    found = []
    for cluster in clusters.values():
        for section in ("users", "roles"):
            for spec in ((cluster or {}).get(section) or {}).values():
                if isinstance(spec, dict) and isinstance(spec.get("password"), str):
                    found.append(spec["password"])
        vip = (cluster or {}).get("vip") if isinstance(cluster, dict) else None
        if isinstance(vip, dict) and isinstance(vip.get("password"), str):
            found.append(vip["password"])
    return found


# merge and defaults_for


def test_merge_is_deep_replaces_lists_and_copies():
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    override = {"a": {"c": [3]}, "e": {"f": 1}}
    result = model.merge(base, override, {"a": {"b": 2}}, None)
    assert result == {"a": {"b": 2, "c": [3]}, "d": 1, "e": {"f": 1}}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert override == {"a": {"c": [3]}, "e": {"f": 1}}
    result["a"]["c"].append(4)
    result["e"]["f"] = 2
    assert override == {"a": {"c": [3]}, "e": {"f": 1}}


def test_merge_non_mapping_replaces_a_mapping():
    assert model.merge({"a": {"b": 1}}, {"a": None}) == {"a": None}
    assert model.merge({"a": 1}, {"a": {"b": 1}}) == {"a": {"b": 1}}


@pytest.mark.parametrize(
    ("osfinger", "version", "source", "auth_dbname"),
    [("Debian-13", 17, "package", True), ("Debian-12", 15, "venv", False),
     (None, None, "package", True), ("Ubuntu-24.04", None, "package", True)],
)
def test_defaults_for_release(defaults, osfinger, version, source, auth_dbname):
    result = model.defaults_for(defaults, osfinger)
    assert result["postgresql"]["version"] == version
    assert result["patroni"]["source"] == source
    assert result["pgbouncer"]["auth_dbname"] is auth_dbname
    assert result["members"] == {} and result["network"] is None
    assert "release" not in result["postgresql"]
    assert defaults["postgresql"]["postgresql"]["version"] is None


# resolve


def test_resolve_demo_on_debian_13(clusters, defaults):
    cluster = model.resolve("demo", clusters, defaults, "Debian-13", ADDRESSES)
    assert cluster["name"] == cluster["scope"] == cluster["etcd"]["token"] == "demo"
    assert {mid: spec["address"] for mid, spec in cluster["members"].items()} == {
        "pg1": "10.77.0.11", "pg2": "10.77.0.12", "pg3": "10.77.0.13", "pg4": "10.77.0.14",
    }
    assert cluster["members"]["pg1"]["roles"] == ["dcs", "db", "balancer"]
    assert cluster["dcs_members"] == cluster["db_members"] == KNOWN[:3]
    assert cluster["balancer_members"] == KNOWN[:3]
    assert cluster["backup_members"] == ["pg4"]
    assert cluster["postgresql"]["data_dir"] == "/var/lib/postgresql/17/demo"
    assert cluster["postgresql"]["bin_dir"] == "/usr/lib/postgresql/17/bin"
    assert cluster["postgresql"]["packages"] == ["postgresql-17", "postgresql-client-17"]
    assert cluster["patroni"]["source"] == "package"
    assert cluster["patroni"]["timing_values"] == {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}
    assert cluster["etcd_endpoints"] == [
        "https://10.77.0.11:2379", "https://10.77.0.12:2379", "https://10.77.0.13:2379",
    ]
    assert cluster["etcd_hosts"] == ["10.77.0.11:2379", "10.77.0.12:2379", "10.77.0.13:2379"]
    assert cluster["etcd_initial_cluster"] == (
        "pg1=https://10.77.0.11:2380,pg2=https://10.77.0.12:2380,pg3=https://10.77.0.13:2380"
    )
    assert cluster["ca_cluster"] == "demo"
    assert cluster["unaddressed"] == []
    assert cluster["users"]["superuser"] == {"name": "postgres",
                                             "password": "demo-superuser-7Hq2xLp9"}


def test_resolve_demo_on_debian_12_with_scope_and_fast_timing(clusters, defaults):
    clusters["demo"].update(scope="pgdemo", patroni={"timing": "fast"})
    cluster = model.resolve("demo", clusters, defaults, "Debian-12", ADDRESSES)
    assert cluster["scope"] == "pgdemo" and cluster["etcd"]["token"] == "demo"
    assert cluster["postgresql"]["data_dir"] == "/var/lib/postgresql/15/pgdemo"
    assert cluster["postgresql"]["packages"] == ["postgresql-15", "postgresql-client-15"]
    assert cluster["patroni"]["source"] == "venv"
    assert cluster["patroni"]["venv"]["version"] == "4.1.5"
    assert cluster["patroni"]["timing_values"] == {"ttl": 20, "loop_wait": 5, "retry_timeout": 5}
    assert cluster["pgbouncer"]["auth_dbname"] is False


@pytest.mark.parametrize(("patroni", "timeout"), [
    ({}, 0),  # the demo's synchronous_mode: a crashed primary fails over at once
    ({"synchronous_mode": False}, 300),
    ({"synchronous_mode": False, "primary_start_timeout": 30}, 30),
])
def test_primary_start_timeout_follows_synchronous_mode_unless_set(clusters, defaults,
                                                                   patroni, timeout):
    clusters["demo"]["patroni"] = patroni
    cluster = model.resolve("demo", clusters, defaults, "Debian-13", ADDRESSES)
    assert cluster["patroni"]["primary_start_timeout"] == timeout


def test_resolve_pillar_version_beats_release_and_none_leaves_templates(clusters, defaults):
    clusters["demo"]["postgresql"] = {"version": 16}
    cluster = model.resolve("demo", clusters, defaults, "Debian-13", ADDRESSES)
    assert cluster["postgresql"]["data_dir"] == "/var/lib/postgresql/16/demo"
    clusters["demo"]["postgresql"] = {}
    cluster = model.resolve("demo", clusters, defaults, None, ADDRESSES)
    assert cluster["postgresql"]["data_dir"] == "/var/lib/postgresql/{version}/{scope}"


def test_resolve_addresses(clusters, defaults):
    clusters["demo"]["members"]["pg2"]["address"] = "10.77.0.99"
    addresses = {"pg1": ["192.168.100.1", "10.77.0.11"], "pg3": ["192.168.100.3"]}
    cluster = model.resolve("demo", clusters, defaults, "Debian-13", addresses)
    members = cluster["members"]
    # pillar beats the mine; an address outside the network is never taken
    assert [members[m]["address"] for m in KNOWN] == ["10.77.0.11", "10.77.0.99", None, None]
    assert cluster["unaddressed"] == ["pg3", "pg4"]
    assert cluster["etcd_hosts"] == ["10.77.0.11:2379", "10.77.0.99:2379"]

    clusters["demo"]["network"] = None
    cluster = model.resolve("demo", clusters, defaults, "Debian-13", addresses)
    assert cluster["members"]["pg1"]["address"] == "192.168.100.1"
    assert cluster["members"]["pg3"]["address"] == "192.168.100.3"

    clusters["demo"]["network"] = "not-a-network"
    cluster = model.resolve("demo", clusters, defaults, "Debian-13", addresses)
    assert cluster["members"]["pg1"]["address"] is None


def test_resolve_uses_the_etcd_of_dcs_cluster(clusters, defaults):
    clusters["demo"]["etcd"] = {"client_port": 2479}
    clusters["second"]["etcd"] = {"client_port": 3379}
    cluster = model.resolve("second", clusters, defaults, "Debian-13", ADDRESSES)
    assert cluster["dcs_members"] == [] and cluster["db_members"] == ["pg5"]
    assert cluster["members"]["pg5"]["address"] == "10.77.0.15"
    # demo's members at demo's client port, not second's
    assert cluster["etcd_endpoints"] == [
        "https://10.77.0.11:2479", "https://10.77.0.12:2479", "https://10.77.0.13:2479",
    ]
    assert cluster["etcd_hosts"] == ["10.77.0.11:2479", "10.77.0.12:2479", "10.77.0.13:2479"]
    assert cluster["etcd_initial_cluster"] == ""
    assert cluster["etcd"]["token"] == "second"
    assert cluster["postgresql"]["data_dir"] == "/var/lib/postgresql/17/second"


def test_resolve_etcd_urls_follow_the_tls_of_the_etcd_cluster(clusters, defaults):
    clusters["demo"]["tls"] = {"enabled": False}
    demo = model.resolve("demo", clusters, defaults, "Debian-13", ADDRESSES)
    assert demo["etcd_initial_cluster"].count("=http://") == 3
    assert demo["etcd_endpoints"][0] == "http://10.77.0.11:2379"
    # second has TLS on, but demo's etcd has it off
    second = model.resolve("second", clusters, defaults, "Debian-13", ADDRESSES)
    assert second["etcd_endpoints"][0] == "http://10.77.0.11:2379"
    clusters["demo"]["tls"] = {"enabled": True}
    clusters["second"]["tls"] = {"enabled": False}
    second = model.resolve("second", clusters, defaults, "Debian-13", ADDRESSES)
    assert second["etcd_endpoints"][0] == "https://10.77.0.11:2379"


def test_resolve_ca_cluster_is_the_etcd_owner(clusters, defaults):
    clusters.update(load_yaml("pillar/pgsalt/dr.sls")["pgsalt"]["clusters"])
    for name in ("demo", "second", "dr"):
        assert model.resolve(name, clusters, defaults)["ca_cluster"] == "demo"
    clusters["second"]["dcs"] = {"endpoints": ["https://etcd1.example:2379"]}
    assert model.resolve("second", clusters, defaults)["ca_cluster"] == "second"


def test_resolve_own_ca_is_the_etcd_owners(clusters, defaults):
    assert model.resolve("demo", clusters, defaults)["own_ca"] is None
    clusters["demo"]["tls"] = {"own_ca": OWN_CA}
    for name in ("demo", "second"):
        assert model.resolve(name, clusters, defaults)["own_ca"] == dict(OWN_CA, cluster="demo")
        plan = model.plan(clusters, name, defaults, [*KNOWN, "pg5"])
        assert plan["tls"]["own_ca"] == dict(OWN_CA, cluster="demo")
    # Its own setting would not be used: refused (test_refused), and ignored by resolve.
    clusters["second"]["tls"] = {"own_ca": {"cert": "/srv/second/ca.crt",
                                            "key": "/srv/second/ca.key"}}
    assert model.resolve("second", clusters, defaults)["own_ca"] == dict(OWN_CA, cluster="demo")
    clusters["demo"]["tls"] = {}
    assert model.resolve("second", clusters, defaults)["own_ca"] is None


def test_a_member_set_to_null_is_no_member(clusters, defaults):
    """Layered pillar (an override over pillar/) takes a member out by setting it to null:
    here the repository and monitor host, with backups off."""
    demo = clusters["demo"]
    demo["members"]["pg4"] = None
    demo["pgbackrest"] = {"enabled": False}
    plan = model.plan(clusters, "demo", defaults, KNOWN)
    assert plan["errors"] == []
    assert plan["members"] == ["pg1", "pg2", "pg3"] and plan["monitor"] == []
    assert model.find_cluster(clusters, "pg4") is None
    assert "pg4" not in model.resolve("demo", clusters, defaults)["members"]
    # only the ones left count: a cluster of null members has no db member
    demo["members"] = {mid: None for mid in demo["members"]}
    assert any("db" in e for e in model.validate(clusters, "demo", defaults))


def test_resolve_reports_unaddressed_members_of_dcs_cluster(clusters, defaults):
    addresses = {"pg1": ["10.77.0.11"], "pg5": ["10.77.0.15"]}
    cluster = model.resolve("second", clusters, defaults, "Debian-13", addresses)
    assert cluster["etcd_hosts"] == ["10.77.0.11:2379"]
    assert cluster["unaddressed"] == ["pg2", "pg3"]


def test_resolve_external_endpoints(clusters, defaults):
    clusters["second"]["dcs"] = {"endpoints": ["http://etcd1.example:2379", "https://etcd2.example"]}
    cluster = model.resolve("second", clusters, defaults, "Debian-13", ADDRESSES)
    assert cluster["etcd_endpoints"] == ["http://etcd1.example:2379", "https://etcd2.example"]
    assert cluster["etcd_hosts"] == ["etcd1.example:2379", "etcd2.example:2379"]


def test_resolve_does_not_touch_its_inputs(clusters, defaults):
    before_clusters, before_defaults = copy.deepcopy(clusters), copy.deepcopy(defaults)
    model.resolve("second", clusters, defaults, "Debian-12", ADDRESSES)
    assert clusters == before_clusters and defaults == before_defaults


def test_resolve_unknown_cluster(clusters, defaults):
    with pytest.raises(ValueError, match="pgsalt:clusters:nope"):
        model.resolve("nope", clusters, defaults)


def test_find_cluster(clusters):
    assert model.find_cluster(clusters, "pg2") == "demo"
    assert model.find_cluster(clusters, "pg5") == "second"
    assert model.find_cluster(clusters, "pg9") is None
    assert model.find_cluster(None, "pg1") is None


# validate: valid pillar


def test_demo_pillar_is_valid(clusters, defaults):
    assert model.validate(clusters, "demo", defaults, KNOWN) == []


def test_shipped_pillar_is_valid(valid, defaults):
    assert model.validate(valid, "demo", defaults, KNOWN) == []
    assert model.validate(valid, "second", defaults, [*KNOWN, "pg5"]) == []
    assert model.validate({"demo": valid["demo"]}, None, defaults) == []


def test_validate_without_defaults_checks_the_pillar_alone(valid):
    assert model.validate(valid, "demo") == []
    valid["demo"]["members"]["pg9"] = {"roles": ["db"]}
    valid["demo"]["users"]["rewind"]["password"] = "short"
    errors = model.validate(valid, "demo", None, KNOWN)
    assert errors == [
        "pgsalt:clusters:demo:members:pg9: not a known minion (accepted keys: pg1, pg2, pg3, pg4)",
        "pgsalt:clusters:demo:users:rewind:password: shorter than 16 characters; "
        "expected at least 16",
    ]


# validate: changes to the valid pillar, written as put("cluster:key:...", value, ...)


def members(*roles):
    """Members pg1.. with these roles, and the demo's repository host pg9."""
    chosen = {f"pg{i}": {"roles": list(r)} for i, r in enumerate(roles, 1)}
    return {**chosen, "pg9": {"roles": ["backup"]}}


def set_path(tree, path, value):
    """Set the value at PATH; the value DELETE removes the key."""
    *parents, last = path.split(":")
    for key in parents:
        tree = tree.setdefault(key, {})
    if value is DELETE:
        del tree[last]
    else:
        tree[last] = value


DELETE = object()


def delete(path):
    def change(clusters):
        *parents, last = path.split(":")
        tree = clusters
        for key in parents:
            tree = tree[key]
        del tree[last]
    return change


def put(*pairs):
    def change(clusters):
        for path, value in zip(pairs[::2], pairs[1::2], strict=True):
            set_path(clusters, path, value)
    return change


ALL = ["dcs", "db", "balancer"]
# A VIP for cluster second (on 10.78.0.0/24), with the demo's router id.
SECOND_VIP = {"address": "10.78.0.250", "interface": "eth0", "virtual_router_id": 51,
              "password": "Zr4+mK8w"}
# Changes that keep both clusters valid.
VALID = {
    "monitor-host-with-thresholds": put(
        "demo:members:pg4", {"roles": ["backup", "monitor"]},
        "demo:monitoring:alerts:replication_lag_warning_bytes", 1048576,
        "demo:monitoring:ports:node", 19100, "demo:monitoring:webhook_url",
        "https://hooks.example.net/pgsalt", "second:members:pg5",
        {"roles": ["db", "balancer", "monitor"]}),
    "lab-single-dcs": put("demo:lab", True, "demo:members", members(ALL), "demo:vip", DELETE),
    "five-dcs": put("demo:members:pg4", {"roles": ["dcs"]},
                    "demo:members:pg6", {"roles": ["dcs", "backup"]}),
    "open-parameters": put("demo:postgresql:parameters:work_mem", "8MB",
                           "demo:postgresql:version", 13),
    "max-connections-string": put("demo:postgresql:parameters:max_connections", "400",
                                  "demo:postgresql:version", 18),
    "own-profile": put("demo:patroni:profiles:slow",
                       {"ttl": 60, "loop_wait": 20, "retry_timeout": 20},
                       "demo:patroni:timing", "slow"),
    "nologin-role-and-superuser-owner": put("demo:roles:reader", {"login": False},
                                            "demo:databases:other", {"owner": "postgres"},
                                            "demo:pgbouncer:max_db_connections", 15,
                                            "demo:pgbouncer:default_pool_size", 15),
    # No member has the role monitor: no exporter listens.
    "monitoring-ports-unused": put("demo:members:pg4", {"roles": ["backup"]},
                                   "demo:monitoring:ports:node", 5432),
    # The same port on different hosts is fine.
    "backup-posix-repository": put("demo:members:pg4", DELETE,
                                   "demo:pgbackrest:repository:type", "posix"),
    "backup-off": put("demo:members:pg4", DELETE, "demo:pgbackrest:enabled", False),
    "backup-schedules": put("demo:pgbackrest:schedule", {
        "full": "weekly", "diff": "Mon,Wed..Fri *-*-* 02:30", "incr": None}),
    "ports-on-different-hosts": put("demo:members", members(["dcs", "db"], ["dcs", "db"],
                                                            ["dcs", "db"], ["balancer"]),
                                    "demo:haproxy:rw_port", 5432, "demo:pgbouncer:port", 2379,
                                    "demo:pgbouncer:max_db_connections", 90, "demo:vip", DELETE),
    "addresses-in-network": put("demo:members:pg1:address", "10.77.0.201",
                                "demo:members:pg2:address", "10.77.0.202"),
    "any-address-without-network": put("demo:network", None,
                                       "demo:members:pg1:address", "192.168.5.5"),
    "external-etcd": put("second:dcs", {"endpoints": ["https://etcd1:2379", "https://[fd00::1]:2379"]}),
    "external-etcd-http-in-a-lab": put("second:dcs", {"endpoints": ["http://etcd1:2379"]},
                                       "second:insecure_lab", True),
    "external-etcd-http-tls-off": put("second:dcs", {"endpoints": ["http://etcd1:2379"]},
                                      "second:insecure_lab", True, "second:tls:enabled", False),
    "no-vip": put("demo:vip", DELETE),
    "vip-null-address": put("demo:vip", {"address": None}),
    "vip-tuned": put("demo:vip:priority", {"pg1": 100, "pg3": 254}, "demo:vip:preempt", True,
                     "demo:vip:advert_int", 2, "demo:keepalived:check", {"fall": 3, "rise": 1}),
    "vip-two-balancers": put("demo:members:pg3:roles", ["dcs", "db"]),
    "vip-without-network": put("demo:network", None, "demo:vip:address", "192.168.7.7"),
    # Router ids need to differ only where networks overlap.
    "vip-same-id-other-network": put("second:members:pg6", {"roles": ["db", "balancer"]},
                                     "second:network", "10.78.0.0/24", "second:vip", SECOND_VIP),
    "vip-other-id-same-network": put("second:members:pg6", {"roles": ["db", "balancer"]},
                                     "second:vip", dict(SECOND_VIP, address="10.77.0.251",
                                                        virtual_router_id=52)),
    # TLS
    # second uses demo's etcd: both have TLS off, or neither
    "tls-off-in-a-lab": put("demo:tls:enabled", False, "demo:insecure_lab", True,
                            "second:tls:enabled", False, "second:insecure_lab", True),
    "tls-lifetimes": put("demo:tls:days", 90, "demo:tls:renew_days", 89),
    "pgbouncer-sslmodes": put("demo:pgbouncer:client_tls_sslmode", "verify-full",
                              "demo:pgbouncer:server_tls_sslmode", "require"),
    "pgbouncer-prefer-in-a-lab": put("demo:pgbouncer:client_tls_sslmode", "prefer",
                                     "demo:insecure_lab", True),
    "own-ca": put("demo:tls:own_ca", OWN_CA),
    "own-ca-neither": put("demo:tls:own_ca", {"cert": None, "key": None}),
    # etcd's auth off: no etcd login is needed, on demo or on second (on demo's etcd)
    "etcd-auth-off": put("demo:etcd", {"auth": False}, "demo:users:etcd", DELETE,
                         "second:users:etcd", DELETE),
    "etcd-login-named": put("demo:users:etcd:name", "patroni-main"),
    # an external etcd's users are not the formula's: no login asked for
    "external-etcd-without-login": put("second:dcs", {"endpoints": ["https://etcd1:2379"]},
                                       "second:users:etcd", DELETE),
}


@pytest.mark.parametrize("change", VALID.values(), ids=VALID)
def test_valid_variations(valid, defaults, change):
    change(valid)
    for name in ("demo", "second"):
        assert model.validate(valid, name, defaults, [f"pg{i}" for i in range(1, 10)]) == []


# Each refused case: the change, the cluster to validate, the key path (prefix) one error
# must start with, and a word that error must contain.
REFUSED = {
    # cluster selection
    "several-clusters-no-name": (put(), None, "pgsalt:clusters:", "demo, second"),
    "unknown-cluster": (put(), "nope", "pgsalt:clusters:nope:", "no such cluster"),
    "cluster-not-mapping": (put("demo", None), "demo", "pgsalt:clusters:demo:", "mapping"),
    # unknown keys
    "top-level-typo": (put("demo:netwrok", "10.77.0.0/24"), "demo",
                       "pgsalt:clusters:demo:netwrok:", "unknown key"),
    "nested-typo": (put("demo:patroni:timming", "fast"), "demo",
                    "pgsalt:clusters:demo:patroni:timming:", "accepted keys"),
    "monitoring-threshold-typo": (put("demo:monitoring:alerts:replication_lag_bytes", 1),
                                  "demo",
                                  "pgsalt:clusters:demo:monitoring:alerts:replication_lag_bytes:",
                                  "replication_lag_warning_bytes"),
    "deep-typo": (put("demo:patroni:venv:verison", "4.1.4"), "demo",
                  "pgsalt:clusters:demo:patroni:venv:verison:", "unknown key"),
    "user-typo": (put("demo:users:superuser:pasword", "x" * 20), "demo",
                  "pgsalt:clusters:demo:users:superuser:pasword:", "unknown key"),
    "release-not-pillar": (put("demo:postgresql:release", {}), "demo",
                           "pgsalt:clusters:demo:postgresql:release:", "unknown key"),
    "section-not-mapping": (put("demo:dcs", None), "demo", "pgsalt:clusters:demo:dcs:", "mapping"),
    "member-typo": (put("demo:members:pg1:adress", "10.77.0.11"), "demo",
                    "pgsalt:clusters:demo:members:pg1:adress:", "roles, address"),
    "role-typo": (put("demo:roles:app:superusr", True), "demo",
                  "pgsalt:clusters:demo:roles:app:superusr:", "unknown key"),
    "database-typo": (put("demo:databases:app:encodng", "UTF8"), "demo",
                      "pgsalt:clusters:demo:databases:app:encodng:", "unknown key"),
    "profile-typo": (put("demo:patroni:profiles:fast:loopwait", 5), "demo",
                     "pgsalt:clusters:demo:patroni:profiles:fast:loopwait:", "unknown key"),
    # member roles
    "unknown-role": (put("demo:members:pg2:roles", ["dcs", "db", "balancr"]), "demo",
                     "pgsalt:clusters:demo:members:pg2:roles:", "'balancr'"),
    "roles-not-list": (put("demo:members:pg2:roles", "db"), "demo",
                       "pgsalt:clusters:demo:members:pg2:roles:", "list"),
    "no-roles": (put("demo:members:pg2", {}), "demo",
                 "pgsalt:clusters:demo:members:pg2:roles:", "missing"),
    "members-not-mapping": (put("demo:members", ["pg1", "pg2"]), "demo",
                            "pgsalt:clusters:demo:members:", "mapping"),
    # etcd
    "even-dcs": (put("demo:members", members(ALL, ALL, ["db"])), "demo",
                 "pgsalt:clusters:demo:members:", "odd number"),
    "single-dcs-without-lab": (put("demo:members", members(ALL, ["db"], ["db"])), "demo",
                               "pgsalt:clusters:demo:members:", "lab: true"),
    "lab-not-bool": (put("demo:lab", "yes"), "demo", "pgsalt:clusters:demo:lab:", "true or false"),
    "no-etcd": (put("demo:members", members(["db", "balancer"], ["db"], ["db"])), "demo",
                "pgsalt:clusters:demo:dcs:", "no etcd"),
    "dcs-cluster-unknown": (put("second:dcs:cluster", "dmeo"), "second",
                            "pgsalt:clusters:second:dcs:cluster:", "'dmeo'"),
    "dcs-cluster-itself": (put("second:dcs:cluster", "second"), "second",
                           "pgsalt:clusters:second:dcs:cluster:", "another cluster"),
    "dcs-cluster-without-etcd": (
        put("third", {"members": {"pg4": {"roles": ["db"]}}}, "second:dcs:cluster", "third"),
        "second", "pgsalt:clusters:second:dcs:cluster:", "no member with role dcs"),
    "own-dcs-and-dcs-cluster": (put("demo:dcs:cluster", "second"), "demo",
                                "pgsalt:clusters:demo:dcs:", "both"),
    "own-dcs-and-endpoints": (put("demo:dcs:endpoints", ["http://10.1.1.1:2379"]), "demo",
                              "pgsalt:clusters:demo:dcs:", "both"),
    "dcs-cluster-and-endpoints": (put("second:dcs:endpoints", ["http://10.1.1.1:2379"]), "second",
                                  "pgsalt:clusters:second:dcs:", "both"),
    "bad-endpoint": (put("second:dcs", {"endpoints": ["http://etcd:secret-password-99@x"]}),
                     "second", "pgsalt:clusters:second:dcs:endpoints:", "item 0"),
    # members and hosts
    "unknown-minion": (put("demo:members:pg9", {"roles": ["db"]}), "demo",
                       "pgsalt:clusters:demo:members:pg9:", "accepted keys: pg1, pg2, pg3"),
    "member-of-two-clusters": (put("second:members:pg1", {"roles": ["db"]}), "second",
                               "pgsalt:clusters:second:members:pg1:", "pgsalt:clusters:demo"),
    "same-address": (put("demo:members:pg1:address", "10.77.0.20",
                         "demo:members:pg3:address", "10.77.0.20"), "demo",
                     "pgsalt:clusters:demo:members:pg3:address:", "also the address of member pg1"),
    "no-db": (put("demo:members", members(["dcs", "balancer"], ["dcs"], ["dcs"])), "demo",
              "pgsalt:clusters:demo:members:", "role db"),
    # ports
    "port-clash-balancer-db": (put("demo:haproxy:rw_port", 5432), "demo",
                               "pgsalt:clusters:demo:haproxy:rw_port:",
                               "pgsalt:clusters:demo:postgresql:port"),
    "port-clash-dcs-db": (put("demo:patroni:port", 2380), "demo",
                          "pgsalt:clusters:demo:patroni:port:", "etcd:peer_port"),
    "port-clash-in-role": (put("demo:pgbouncer:port", 7000), "demo",
                           "pgsalt:clusters:demo:pgbouncer:port:", "haproxy:stats_port"),
    "port-too-high": (put("demo:etcd:client_port", 70000), "demo",
                      "pgsalt:clusters:demo:etcd:client_port:", "1 to 65535"),
    "port-zero": (put("demo:haproxy:stats_port", 0), "demo",
                  "pgsalt:clusters:demo:haproxy:stats_port:", "not a port"),
    "port-string": (put("demo:postgresql:port", "5432"), "demo",
                    "pgsalt:clusters:demo:postgresql:port:", "an int"),
    "monitoring-scrape-interval-zero": (put("demo:monitoring:scrape_interval", 0), "demo",
                                        "pgsalt:clusters:demo:monitoring:scrape_interval:",
                                        "positive int"),
    "monitoring-threshold-string": (put("demo:monitoring:alerts:connections_warning_percent",
                                        "75%"), "demo",
                                    "pgsalt:clusters:demo:monitoring:alerts:"
                                    "connections_warning_percent:", "positive number"),
    "monitoring-down-for-below-two-scrapes": (put("demo:monitoring:alerts:down_for", 20),
                                              "demo", "pgsalt:clusters:demo:monitoring:alerts:"
                                              "down_for:", "at least 30"),
    "port-clash-node-exporter": (put("demo:monitoring:ports:node", 5432), "demo",
                                 "pgsalt:clusters:demo:monitoring:ports:node:",
                                 "postgresql:port, on member pg1"),
    "port-clash-monitor-host": (put("demo:pgbackrest:port", 9090), "demo",
                                "pgsalt:clusters:demo:monitoring:ports:prometheus:",
                                "pgbackrest:port, on member pg4"),
    # passwords
    "superuser-password-missing": (delete("demo:users:superuser:password"), "demo",
                                   "pgsalt:clusters:demo:users:superuser:password:", "missing"),
    "replication-password-null": (put("demo:users:replication:password", None), "demo",
                                  "pgsalt:clusters:demo:users:replication:password:", "missing"),
    "rewind-password-short": (put("demo:users:rewind:password", "fifteen-chars15"), "demo",
                              "pgsalt:clusters:demo:users:rewind:password:", "16"),
    "pgbouncer-password-number": (put("demo:users:pgbouncer_auth:password", 12345678901234567),
                                  "demo", "pgsalt:clusters:demo:users:pgbouncer_auth:password:",
                                  "string"),
    "etcd-login-missing": (delete("demo:users:etcd"), "demo",
                           "pgsalt:clusters:demo:users:etcd:", "missing"),
    # second is on demo's etcd, whose auth is on
    "etcd-login-short": (put("second:users:etcd:password", "short-pw"), "second",
                         "pgsalt:clusters:second:users:etcd:password:", "16"),
    "etcd-auth-not-bool": (put("demo:etcd:auth", "yes"), "demo",
                           "pgsalt:clusters:demo:etcd:auth:", "true or false"),
    "etcd-auth-on-a-tenant": (put("second:etcd", {"auth": False}), "second",
                              "pgsalt:clusters:second:etcd:auth:", "runs no etcd"),
    "etcd-auth-without-tls": (put("demo:etcd", {"auth": True}, "demo:tls:enabled", False,
                                  "demo:insecure_lab", True, "second:tls:enabled", False,
                                  "second:insecure_lab", True), "demo",
                              "pgsalt:clusters:demo:etcd:auth:", "plain text"),
    "rewind-user-absent": (delete("demo:users:rewind"), "demo",
                            "pgsalt:clusters:demo:users:rewind:", "missing"),
    "rest-api-password-missing": (delete("demo:users:rest_api:password"), "demo",
                                  "pgsalt:clusters:demo:users:rest_api:password:", "missing"),
    "haproxy-stats-password-short": (put("demo:users:haproxy_stats:password", "Hn3wK8cZ"), "demo",
                                     "pgsalt:clusters:demo:users:haproxy_stats:password:", "16"),
    "password-placeholder": (put("demo:users:superuser:password", "Change-Me-superuser-pw"),
                             "demo", "pgsalt:clusters:demo:users:superuser:password:",
                             "published default or placeholder"),
    "password-placeholder-no-dash": (put("second:users:rest_api:password", "pw-CHANGEME-second"),
                                     "second", "pgsalt:clusters:second:users:rest_api:password:",
                                     "published default or placeholder"),
    "password-known-default": (put("demo:users:replication:password", "PasswordPassword"), "demo",
                               "pgsalt:clusters:demo:users:replication:password:",
                               "published default or placeholder"),
    "role-password-placeholder": (put("demo:roles:app:password", "CHANGE-ME-app-password"),
                                  "demo", "pgsalt:clusters:demo:roles:app:password:",
                                  "published default or placeholder"),
    "role-password-missing": (put("demo:roles:reporter", {"createdb": True}), "demo",
                              "pgsalt:clusters:demo:roles:reporter:password:", "missing"),
    "role-login-password-short": (put("demo:roles:app", {"login": True, "password": "Qz7!kP2"}),
                                  "demo", "pgsalt:clusters:demo:roles:app:password:", "16"),
    "role-flag-not-bool": (put("demo:roles:app:createdb", "yes"), "demo",
                           "pgsalt:clusters:demo:roles:app:createdb:", "true or false"),
    # pools
    "pools-above-max-connections": (put("demo:pgbouncer:max_db_connections", 32), "demo",
                                    "pgsalt:clusters:demo:pgbouncer:max_db_connections:",
                                    "= 192 server connections"),
    "pools-of-two-databases": (put("demo:databases:other", {"owner": "app"}), "demo",
                               "pgsalt:clusters:demo:pgbouncer:max_db_connections:",
                               "at most 15"),
    "pools-lower-max-connections": (put("demo:postgresql:parameters:max_connections", 100), "demo",
                                    "pgsalt:clusters:demo:pgbouncer:max_db_connections:",
                                    "= 90"),
    "default-pool-above-max-db": (put("demo:pgbouncer:default_pool_size", 31), "demo",
                                  "pgsalt:clusters:demo:pgbouncer:default_pool_size:", "above"),
    "max-connections-not-number": (put("demo:postgresql:parameters:max_connections", "lots"),
                                   "demo", "pgsalt:clusters:demo:postgresql:parameters:"
                                   "max_connections:", "positive int"),
    # patroni timing
    "unknown-timing": (put("demo:patroni:timing", "quick"), "demo",
                       "pgsalt:clusters:demo:patroni:timing:", "default, fast"),
    "ttl-below-loop-and-retries": (put("demo:patroni:profiles:fast:retry_timeout", 8), "demo",
                                   "pgsalt:clusters:demo:patroni:profiles:fast:ttl:", "(21)"),
    "ttl-below-20": (put("demo:patroni:profiles:tiny", {"ttl": 15, "loop_wait": 3,
                                                        "retry_timeout": 3}),
                     "demo", "pgsalt:clusters:demo:patroni:profiles:tiny:ttl:", "refuses"),
    "profile-incomplete": (put("demo:patroni:profiles:half", {"ttl": 40}), "demo",
                           "pgsalt:clusters:demo:patroni:profiles:half:loop_wait:", "positive int"),
    "negative-primary-start-timeout": (put("demo:patroni:primary_start_timeout", -1), "demo",
                                       "pgsalt:clusters:demo:patroni:primary_start_timeout:",
                                       ">= 0"),
    # postgresql version
    "version-too-old": (put("demo:postgresql:version", 12), "demo",
                        "pgsalt:clusters:demo:postgresql:version:", "13 to 18"),
    "version-too-new": (put("demo:postgresql:version", 19), "demo",
                        "pgsalt:clusters:demo:postgresql:version:", "13 to 18"),
    "version-string": (put("demo:postgresql:version", "17"), "demo",
                       "pgsalt:clusters:demo:postgresql:version:", "null"),
    "data-dir-placeholder": (put("demo:postgresql:data_dir", "/srv/{cluster}"), "demo",
                             "pgsalt:clusters:demo:postgresql:data_dir:", "{scope}"),
    # enumerations
    "patroni-source": (put("demo:patroni:source", "pip"), "demo",
                       "pgsalt:clusters:demo:patroni:source:", "package, venv"),
    "pool-mode": (put("demo:pgbouncer:pool_mode", "sessions"), "demo",
                  "pgsalt:clusters:demo:pgbouncer:pool_mode:", "session, transaction, statement"),
    # network and addresses
    "network-not-cidr": (put("demo:network", "10.77.0.0/33"), "demo",
                         "pgsalt:clusters:demo:network:", "CIDR"),
    "address-outside-network": (put("demo:members:pg1:address", "10.78.0.11"), "demo",
                                "pgsalt:clusters:demo:members:pg1:address:", "not inside"),
    "address-not-ip": (put("demo:members:pg1:address", "10.77.0.300"), "demo",
                       "pgsalt:clusters:demo:members:pg1:address:", "not an IP address"),
    # databases
    "owner-not-role": (put("demo:databases:app:owner", "ap"), "demo",
                       "pgsalt:clusters:demo:databases:app:owner:", "accepted: app, postgres"),
    "owner-missing": (put("demo:databases:app", {"extensions": []}), "demo",
                      "pgsalt:clusters:demo:databases:app:owner:", "missing"),
    "extensions-not-list": (put("demo:databases:app:extensions", "pg_stat_statements"), "demo",
                            "pgsalt:clusters:demo:databases:app:extensions:", "list"),
    "extensions-not-strings": (put("demo:databases:app:extensions", [{"name": "x"}]), "demo",
                               "pgsalt:clusters:demo:databases:app:extensions:", "strings"),
    "databases-not-mapping": (put("demo:databases", ["app"]), "demo",
                              "pgsalt:clusters:demo:databases:", "mapping"),
    # backups
    "backup-no-repository-host": (put("demo:members:pg4", DELETE), "demo",
                                  "pgsalt:clusters:demo:members:", "role backup (none)"),
    "backup-two-repository-hosts": (put("demo:members:pg5", {"roles": ["backup"]}), "demo",
                                    "pgsalt:clusters:demo:members:", "pg4, pg5"),
    "backup-role-but-disabled": (put("demo:pgbackrest:enabled", False), "demo",
                                 "pgsalt:clusters:demo:members:", "enabled is false"),
    "backup-on-db-host": (put("demo:members:pg4:roles", ["backup", "db"]), "demo",
                          "pgsalt:clusters:demo:members:pg4:roles:", "host of its own"),
    "backup-cipher-no-passphrase": (put("demo:pgbackrest:passphrase", None), "demo",
                                    "pgsalt:clusters:demo:pgbackrest:passphrase:", "missing"),
    "backup-unknown-cipher": (put("demo:pgbackrest:cipher", "aes-128-cbc"), "demo",
                              "pgsalt:clusters:demo:pgbackrest:cipher:", "aes-256-cbc"),
    "backup-schedule-bad": (put("demo:pgbackrest:schedule:full", "Sun 25:00"), "demo",
                            "pgsalt:clusters:demo:pgbackrest:schedule:full:", "OnCalendar"),
    "backup-schedule-word": (put("demo:pgbackrest:schedule:diff", "every night"), "demo",
                             "pgsalt:clusters:demo:pgbackrest:schedule:diff:", "OnCalendar"),
    "backup-schedule-type": (put("demo:pgbackrest:schedule:weekly", "daily"), "demo",
                             "pgsalt:clusters:demo:pgbackrest:schedule:weekly:", "unknown"),
    "backup-retention-zero": (put("demo:pgbackrest:retention:full", 0), "demo",
                              "pgsalt:clusters:demo:pgbackrest:retention:full:", "keeps nothing"),
    "backup-retention-type": (put("demo:pgbackrest:retention:full_type", "weeks"), "demo",
                              "pgsalt:clusters:demo:pgbackrest:retention:full_type:", "count"),
    "backup-repository-type": (put("demo:pgbackrest:repository:type", "s3"), "demo",
                               "pgsalt:clusters:demo:pgbackrest:repository:type:", "posix"),
    "backup-standby-posix": (put("demo:pgbackrest:repository:type", "posix",
                                 "demo:members:pg4", DELETE,
                                 "demo:pgbackrest:backup_standby", True), "demo",
                             "pgsalt:clusters:demo:pgbackrest:backup_standby:", "tls"),
    "backup-port-clash": (put("demo:pgbackrest:port", 5432), "demo",
                          "pgsalt:clusters:demo:pgbackrest:port:", "distinct ports"),
    # virtual IP
    "vip-typo": (put("demo:vip:adress", "10.77.0.250"), "demo",
                 "pgsalt:clusters:demo:vip:adress:", "unknown key"),
    "vip-check-typo": (put("demo:keepalived:check:falls", 3), "demo",
                       "pgsalt:clusters:demo:keepalived:check:falls:", "unknown key"),
    "vip-not-ip": (put("demo:vip:address", "10.77.0.300"), "demo",
                   "pgsalt:clusters:demo:vip:address:", "not an IPv4 address"),
    "vip-ipv6": (put("demo:network", None, "demo:vip:address", "fd00::250"), "demo",
                 "pgsalt:clusters:demo:vip:address:", "IPv4"),
    "vip-outside-network": (put("demo:vip:address", "10.78.0.250"), "demo",
                            "pgsalt:clusters:demo:vip:address:", "not inside"),
    "vip-is-a-member": (put("demo:members:pg2:address", "10.77.0.250"), "demo",
                        "pgsalt:clusters:demo:vip:address:", "address of member pg2"),
    "vip-one-balancer": (put("demo:members:pg2:roles", ["dcs", "db"],
                             "demo:members:pg3:roles", ["dcs", "db"]), "demo",
                         "pgsalt:clusters:demo:vip:address:", "at least 2"),
    "vip-address-missing": (delete("demo:vip:address"), "demo",
                            "pgsalt:clusters:demo:vip:address:", "vip:interface"),
    "vip-interface-missing": (delete("demo:vip:interface"), "demo",
                              "pgsalt:clusters:demo:vip:interface:", "missing"),
    "vip-interface-bad": (put("demo:vip:interface", "eth 0"), "demo",
                          "pgsalt:clusters:demo:vip:interface:", "not an interface"),
    "vip-router-id-missing": (delete("demo:vip:virtual_router_id"), "demo",
                              "pgsalt:clusters:demo:vip:virtual_router_id:", "missing"),
    "vip-router-id-zero": (put("demo:vip:virtual_router_id", 0), "demo",
                           "pgsalt:clusters:demo:vip:virtual_router_id:", "1 to 255"),
    "vip-router-id-256": (put("demo:vip:virtual_router_id", 256), "demo",
                          "pgsalt:clusters:demo:vip:virtual_router_id:", "1 to 255"),
    "vip-router-id-string": (put("demo:vip:virtual_router_id", "51"), "demo",
                             "pgsalt:clusters:demo:vip:virtual_router_id:", "not a VRRP router id"),
    "vip-router-id-clash": (put("second:members:pg6", {"roles": ["db", "balancer"]},
                                "second:vip", dict(SECOND_VIP, address="10.77.0.251")), "demo",
                            "pgsalt:clusters:demo:vip:virtual_router_id:",
                            "pgsalt:clusters:second:vip"),
    "vip-router-id-clash-overlap": (put("second:members:pg6", {"roles": ["db", "balancer"]},
                                        "second:network", "10.77.0.128/25",
                                        "second:vip", dict(SECOND_VIP, address="10.77.0.251")),
                                    "second", "pgsalt:clusters:second:vip:virtual_router_id:",
                                    "pgsalt:clusters:demo:vip"),
    "vip-password-missing": (delete("demo:vip:password"), "demo",
                             "pgsalt:clusters:demo:vip:password:", "missing"),
    "vip-password-short": (put("demo:vip:password", "Vq7-pX2"), "demo",
                           "pgsalt:clusters:demo:vip:password:", "shorter than 8"),
    "vip-password-long": (put("demo:vip:password", "Vq7-pX2k-and-more"), "demo",
                          "pgsalt:clusters:demo:vip:password:", "longer than 8"),
    "vip-password-space": (put("demo:vip:password", "Vq7 pX2k"), "demo",
                           "pgsalt:clusters:demo:vip:password:", "letters, digits"),
    "vip-password-number": (put("demo:vip:password", 12345678), "demo",
                            "pgsalt:clusters:demo:vip:password:", "string"),
    "vip-advert-zero": (put("demo:vip:advert_int", 0), "demo",
                        "pgsalt:clusters:demo:vip:advert_int:", "1 to 255"),
    "vip-preempt-string": (put("demo:vip:preempt", "no"), "demo",
                           "pgsalt:clusters:demo:vip:preempt:", "true or false"),
    "vip-priority-not-balancer": (put("demo:vip:priority", {"pg4": 100}), "demo",
                                  "pgsalt:clusters:demo:vip:priority:pg4:", "role balancer"),
    "vip-priority-255": (put("demo:vip:priority", {"pg1": 255}), "demo",
                         "pgsalt:clusters:demo:vip:priority:pg1:", "1 to 254"),
    "vip-check-zero": (put("demo:keepalived:check:fall", 0), "demo",
                       "pgsalt:clusters:demo:keepalived:check:fall:", "positive int"),
    # TLS
    "tls-off": (put("demo:tls:enabled", False), "demo", "pgsalt:clusters:demo:tls:enabled:",
                "insecure_lab: true"),
    "tls-enabled-string": (put("demo:tls:enabled", "no"), "demo",
                           "pgsalt:clusters:demo:tls:enabled:", "true or false"),
    "insecure-lab-string": (put("demo:insecure_lab", "yes"), "demo",
                            "pgsalt:clusters:demo:insecure_lab:", "true or false"),
    "tls-days-zero": (put("demo:tls:days", 0), "demo", "pgsalt:clusters:demo:tls:days:",
                      "positive int"),
    "tls-renew-days-string": (put("demo:tls:renew_days", "30"), "demo",
                              "pgsalt:clusters:demo:tls:renew_days:", "positive int"),
    "tls-renew-days-as-days": (put("demo:tls:days", 30, "demo:tls:renew_days", 30), "demo",
                               "pgsalt:clusters:demo:tls:renew_days:", "not below days (30)"),
    "tls-renew-days-over-days": (put("demo:tls:renew_days", 400), "demo",
                                 "pgsalt:clusters:demo:tls:renew_days:", "not below days (365)"),
    "tls-on-with-etcd-tls-off": (put("demo:tls:enabled", False, "demo:insecure_lab", True),
                                 "second", "pgsalt:clusters:second:tls:enabled:",
                                 "dcs:cluster demo has TLS off"),
    "tls-off-with-etcd-tls-on": (put("second:tls:enabled", False, "second:insecure_lab", True),
                                 "second", "pgsalt:clusters:second:tls:enabled:",
                                 "dcs:cluster demo has TLS on"),
    "external-etcd-http": (put("second:dcs", {"endpoints": ["https://etcd1:2379",
                                                            "http://etcd2:2379"]}),
                           "second", "pgsalt:clusters:second:dcs:endpoints:",
                           "insecure_lab: true"),
    "own-ca-not-mapping": (put("demo:tls:own_ca", "/srv/pki/ca.crt"), "demo",
                           "pgsalt:clusters:demo:tls:own_ca:", "a mapping with cert and key"),
    "own-ca-relative-path": (put("demo:tls:own_ca", dict(OWN_CA, cert="pki/ca.crt")), "demo",
                             "pgsalt:clusters:demo:tls:own_ca:cert:", "no absolute path"),
    "own-ca-only-cert": (put("demo:tls:own_ca:cert", OWN_CA["cert"]), "demo",
                         "pgsalt:clusters:demo:tls:own_ca:key:", "missing"),
    "own-ca-only-key": (put("demo:tls:own_ca:key", OWN_CA["key"]), "demo",
                        "pgsalt:clusters:demo:tls:own_ca:cert:", "missing"),
    "pgbouncer-sslmode-unknown": (put("demo:pgbouncer:server_tls_sslmode", "verify_full"),
                                  "demo", "pgsalt:clusters:demo:pgbouncer:server_tls_sslmode:",
                                  "no TLS mode"),
    "own-ca-on-another-clusters-etcd": (put("second:tls:own_ca", {"cert": "/srv/ca.crt",
                                                                  "key": "/srv/ca.key"}),
                                        "second", "pgsalt:clusters:second:tls:own_ca:",
                                        "CA of dcs:cluster demo"),
    "pgbouncer-client-prefer": (put("demo:pgbouncer:client_tls_sslmode", "prefer"), "demo",
                                "pgsalt:clusters:demo:pgbouncer:client_tls_sslmode:",
                                "without TLS"),
}


@pytest.mark.parametrize(("change", "name", "path", "word"), REFUSED.values(), ids=REFUSED)
def test_refused(valid, defaults, change, name, path, word):
    change(valid)
    errors = model.validate(valid, name, defaults, [*KNOWN, "pg4", "pg5"])
    matching = [error for error in errors if error.startswith(path)]
    assert matching, errors
    assert any(word in error for error in matching), matching
    secrets = [*passwords(valid), "secret-password-99"]
    assert not [error for error in errors for secret in secrets if secret in error]


@pytest.mark.parametrize("clusters", [None, {}, []])
def test_refused_without_clusters(defaults, clusters):
    assert model.validate(clusters, "demo", defaults) == [
        "pgsalt:clusters: missing or empty; expected a mapping of cluster names to their settings"
    ]


def test_refused_unknown_minion_message(valid, defaults):
    valid["demo"]["members"]["pg9"] = {"roles": ["db"]}
    assert model.validate(valid, "demo", defaults, KNOWN) == [
        "pgsalt:clusters:demo:members:pg9: not a known minion (accepted keys: pg1, pg2, pg3, pg4)"
    ]


def test_refused_port_clash_is_reported_once(valid, defaults):
    valid["demo"]["haproxy"] = {"rw_port": 5432}
    errors = model.validate(valid, "demo", defaults, KNOWN)
    assert errors == [
        "pgsalt:clusters:demo:haproxy:rw_port: port 5432 is also "
        "pgsalt:clusters:demo:postgresql:port, on member pg1; expected distinct ports on one host"
    ]


def test_etcd_logins_are_kept_by_the_etcd_cluster_for_itself_and_its_tenants(defaults):
    shipped = loaders.shipped_pillar()["pgsalt"]["clusters"]
    demo = model.resolve("demo", shipped, defaults)
    # demo runs the etcd: a login per cluster on it, each limited to its own keys; dr is a
    # standby of demo and logs in with demo's users' password under its own scope
    assert [(login["user"], login["prefix"]) for login in demo["etcd_logins"]] == [
        ("patroni-demo", "/service/demo/"), ("patroni-second", "/service/second/"),
        ("patroni-dr", "/service/dr/")]
    assert demo["etcd_logins"][0]["password"] == "demo-etcd-login-Zp6yN2wQ"
    assert demo["etcd_logins"][2]["password"] == "demo-etcd-login-Zp6yN2wQ"
    second = model.resolve("second", shipped, defaults)
    assert (second["etcd_auth"], second["etcd_logins"]) == (True, [])
    assert second["etcd_login"]["user"] == "patroni-second"
    # off on demo's etcd: off for its tenants too, and no logins anywhere
    shipped["demo"]["etcd"] = {"auth": False}
    assert model.resolve("demo", shipped, defaults)["etcd_logins"] == []
    assert model.resolve("second", shipped, defaults)["etcd_login"] is None
