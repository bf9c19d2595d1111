"""Unit tests of _modules/pgsalt.py: the cluster as a minion sees it, and the configs built from it.

The module runs over the real _utils/pgsalt_model.py (wired as ``__utils__``), the shipped
pillar (pillar/pgsalt/*.sls) and the components' real defaults.yaml files; only the Salt mine
and the minion's own addresses are faked.
"""

import copy
import os
from unittest.mock import MagicMock, patch

import loaders
import pytest
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

execmod = loaders.load("pgsalt_execmod_under_test", "_modules/pgsalt.py")

DEMO_PASSWORDS = {
    "superuser": "demo-superuser-7Hq2xLp9",
    "replication": "demo-replication-K4vT8sWn",
    "rewind": "demo-rewind-P3mZ6yRc",
    "rest_api": "demo-rest-api-Qx4mT7vLp2",
}
TLS_FILES = {"key": "/etc/pgsalt/tls/host.key", "cert": "/etc/pgsalt/tls/host.crt",
             "ca": "/etc/pgsalt/tls/ca.crt", "etcd_cert": "/etc/pgsalt/tls/etcd.crt"}
REJECT_OWN_USERS = ["host", "all", "replicator,rewinder", "0.0.0.0/0", "reject"]


@pytest.fixture
def minion():
    return "pg2"


@pytest.fixture
def osfinger():
    return "Debian-13"


@pytest.fixture
def pillar():
    return loaders.shipped_pillar()


@pytest.fixture
def dunders(minion, osfinger, pillar):
    return loaders.minion_globals(minion, osfinger, pillar)


@pytest.fixture
def configure_loader_modules(dunders):
    return {execmod: dunders}


@pytest.fixture(scope="module")
def defaults():
    return loaders.defaults()


@pytest.fixture
def cluster(defaults):
    return execmod.cluster(defaults)


def _hba(config):
    """pg_hba lines as lists of fields."""
    return [line.split() for line in config["postgresql"]["pg_hba"]]


def _insecure_lab(pillar, name="demo"):
    """Cluster NAME of PILLAR with TLS off, as a test cluster may have it."""
    pillar["pgsalt"]["clusters"][name].update(insecure_lab=True, tls={"enabled": False})


# --------------------------------------------------------------------------
# cluster()
# --------------------------------------------------------------------------


def test_cluster_is_the_minions_own_with_addresses_from_the_mine(cluster, dunders):
    assert cluster["name"] == "demo"
    assert cluster["scope"] == "demo"
    assert cluster["me"] == "pg2"
    assert cluster["my"] == {"roles": ["dcs", "db", "balancer"], "address": "10.77.0.12"}
    # the address inside 10.77.0.0/24, not the first (NAT) one the mine lists
    assert {mid: spec["address"] for mid, spec in cluster["members"].items()} == loaders.DEMO
    assert cluster["dcs_members"] == cluster["db_members"] == cluster["balancer_members"] == [
        "pg1", "pg2", "pg3"
    ]
    assert cluster["unaddressed"] == []
    assert cluster["etcd_hosts"] == ["10.77.0.11:2379", "10.77.0.12:2379", "10.77.0.13:2379"]
    dunders["__salt__"]["mine.get"].assert_called_once_with("*", "network.ip_addrs")


def test_cluster_on_debian_13(cluster):
    pg = cluster["postgresql"]
    assert pg["version"] == 17
    assert pg["data_dir"] == "/var/lib/postgresql/17/demo"
    assert pg["bin_dir"] == "/usr/lib/postgresql/17/bin"
    assert pg["packages"] == ["postgresql-17", "postgresql-client-17"]
    assert cluster["patroni"]["source"] == "package"
    assert cluster["pgbouncer"]["auth_dbname"] is True


@pytest.mark.parametrize("osfinger", ["Debian-12"])
def test_cluster_on_debian_12(cluster, osfinger):
    pg = cluster["postgresql"]
    assert pg["version"] == 15
    assert pg["data_dir"] == "/var/lib/postgresql/15/demo"
    assert pg["bin_dir"] == "/usr/lib/postgresql/15/bin"
    assert pg["packages"] == ["postgresql-15", "postgresql-client-15"]
    assert cluster["patroni"]["source"] == "venv"
    assert cluster["patroni"]["venv"]["path"] == "/opt/patroni"
    assert cluster["pgbouncer"]["auth_dbname"] is False


def test_cluster_own_address_when_the_mine_has_not_got_it_yet(defaults, dunders):
    mine = {mid: addrs for mid, addrs in loaders.ADDRESSES.items() if mid != "pg2"}
    dunders["__salt__"]["mine.get"].return_value = mine
    cluster = execmod.cluster(defaults)
    assert cluster["my"]["address"] == "10.77.0.12"
    dunders["__salt__"]["network.ip_addrs"].assert_called_once_with()
    # an empty mine (None) leaves the others without an address: refused, naming them
    dunders["__context__"].clear()  # another job
    dunders["__salt__"]["mine.get"].return_value = None
    with pytest.raises(CommandExecutionError, match="no address for pg1, pg3"):
        execmod.cluster(defaults)


def test_cluster_asks_the_mine_once_per_job(defaults, dunders):
    """Every SLS of a run imports map.jinja; each mine.get is a request to the master."""
    first = execmod.cluster(defaults)
    first["members"].clear()  # a template's change stays its own
    again = execmod.cluster(defaults)
    assert again["members"] and dunders["__salt__"]["mine.get"].call_count == 1
    # other pillar (an override in the same process) is resolved anew
    dunders["__pillar__"]["pgsalt"]["clusters"]["demo"]["scope"] = "other"
    assert execmod.cluster(defaults)["scope"] == "other"


def test_defaults_are_read_once_per_job_process(defaults, dunders):
    """map.jinja passes no defaults: they come from the file server, once per job."""
    fetched = MagicMock(side_effect=loaders.cache_file)
    dunders["__salt__"]["cp.cache_file"] = fetched
    assert execmod.cluster() == execmod.cluster(defaults)
    assert execmod.defaults() == defaults
    assert sorted(c.args[0] for c in fetched.call_args_list) == sorted(
        f"salt://{name}/defaults.yaml" for name in loaders.COMPONENTS)
    # a job is a process of its own: what its parent read is read again
    with patch.object(execmod.os, "getpid", return_value=os.getpid() + 1):
        execmod.defaults()
    assert fetched.call_count == 2 * len(loaders.COMPONENTS)


def test_defaults_missing_from_the_file_server_is_an_error(dunders):
    dunders["__salt__"]["cp.cache_file"] = lambda url, saltenv="base": (
        "" if url == "salt://haproxy/defaults.yaml" else loaders.cache_file(url, saltenv))
    with pytest.raises(CommandExecutionError, match="salt://haproxy/defaults.yaml is not"):
        execmod.cluster()


@pytest.mark.parametrize("minion", ["pg9"])
def test_cluster_empty_for_a_minion_in_no_cluster(cluster, defaults, minion):
    assert cluster == {}
    assert execmod.cluster(defaults, name="nosuch") == {}


def test_cluster_by_name_for_a_non_member(defaults):
    cluster = execmod.cluster(defaults, name="second")
    assert cluster["name"] == "second"
    assert cluster["me"] == "pg2"
    assert cluster["my"] == {"roles": [], "address": None}
    assert cluster["db_members"] == ["pg5"]


@pytest.mark.parametrize("minion", ["pg5"])
def test_cluster_using_another_clusters_etcd(cluster, minion):
    assert cluster["name"] == "second"
    assert cluster["my"] == {"roles": ["db", "balancer"], "address": "10.77.0.15"}
    assert cluster["dcs_members"] == []
    assert cluster["etcd_hosts"] == ["10.77.0.11:2379", "10.77.0.12:2379", "10.77.0.13:2379"]
    assert cluster["postgresql"]["data_dir"] == "/var/lib/postgresql/17/second"


# --------------------------------------------------------------------------
# patroni_config()
# --------------------------------------------------------------------------


def test_patroni_config_identity_and_addresses(cluster):
    config = execmod.patroni_config(cluster)
    assert config["scope"] == "demo"
    assert config["name"] == "pg2"
    assert config["namespace"] == "/service/"
    assert (config["restapi"]["listen"], config["restapi"]["connect_address"]) == (
        "10.77.0.12:8008", "10.77.0.12:8008")
    pg = config["postgresql"]
    # Patroni's listen is "host[,host...]:port"
    hosts, port = pg["listen"].rsplit(":", 1)
    assert port == "5432"
    assert set(hosts.split(",")) == {"10.77.0.12", "127.0.0.1"}
    assert pg["connect_address"] == "10.77.0.12:5432"
    assert pg["data_dir"] == "/var/lib/postgresql/17/demo"
    assert pg["bin_dir"] == "/usr/lib/postgresql/17/bin"


def test_patroni_config_etcd_hosts_are_the_dcs_members(cluster):
    config = execmod.patroni_config(cluster)
    dcs = [cluster["members"][mid]["address"] for mid in cluster["dcs_members"]]
    # etcd asks for a client certificate from the cluster CA, one without a CN (its gateway
    # refuses a CN with auth on); Patroni logs in with its own user.
    assert config["etcd3"] == {"hosts": [f"{addr}:2379" for addr in dcs], "protocol": "https",
                               "cacert": TLS_FILES["ca"], "cert": TLS_FILES["etcd_cert"],
                               "key": TLS_FILES["key"], "username": "patroni-demo",
                               "password": "demo-etcd-login-Zp6yN2wQ"}
    assert "etcd" not in config  # the v2 API is off (ETCD_ENABLE_V2=false)


def test_patroni_config_etcd_without_tls(defaults, pillar):
    _insecure_lab(pillar)
    config = execmod.patroni_config(execmod.cluster(defaults))
    assert config["etcd3"] == {"hosts": ["10.77.0.11:2379", "10.77.0.12:2379", "10.77.0.13:2379"]}


def test_patroni_config_hba_has_no_trust_and_replication_only_from_db_members(cluster):
    config = execmod.patroni_config(cluster)
    hba = _hba(config)
    assert hba, "no pg_hba"
    assert all("trust" not in fields for fields in hba)
    remote = [fields for fields in hba if fields[0] != "local"]
    # a password on every line, but the one that keeps the cluster's own users to its hosts
    assert [fields for fields in remote if fields[-1] != "scram-sha-256"] == [REJECT_OWN_USERS]
    # from any host but this one, TLS only
    assert [fields for fields in remote
            if fields[0] != "hostssl" and fields[3] != "127.0.0.1/32"] == [REJECT_OWN_USERS]

    replication = [fields for fields in hba if fields[1] == "replication"]
    # The db members, and the local server for Patroni's own timeline checks.
    assert sorted(fields[3] for fields in replication) == sorted(
        ["127.0.0.1/32", *(f"{addr}/32" for addr in loaders.DB.values())]
    )
    assert {fields[2] for fields in replication} == {"replicator"}
    rewind = [fields for fields in hba if fields[2] == "rewinder"]
    assert sorted(fields[3] for fields in rewind) == [
        f"{addr}/32" for addr in sorted(loaders.DB.values())
    ]
    # the cluster's own users are refused anywhere else, before the network's line matches
    network = ["hostssl", "all", "all", "10.77.0.0/24", "scram-sha-256"]
    assert max(hba.index(fields) for fields in rewind) < hba.index(REJECT_OWN_USERS) < hba.index(
        network)
    # everyone else: password auth from localhost, and over TLS from the cluster's network
    assert ["host", "all", "all", "127.0.0.1/32", "scram-sha-256"] in hba


def test_patroni_config_peer_map_lets_root_act_as_postgres(cluster):
    config = execmod.patroni_config(cluster)
    local_postgres = [f for f in _hba(config) if f[:3] == ["local", "all", "postgres"]]
    assert len(local_postgres) == 1
    assert local_postgres[0][3] == "peer"
    options = dict(opt.split("=", 1) for opt in local_postgres[0][4:])
    ident = [line.split() for line in config["postgresql"]["pg_ident"]]
    assert [options["map"], "root", "postgres"] in ident
    assert [options["map"], "postgres", "postgres"] in ident
    # the postgres line comes before the catch-all local line, or it would never match
    hba = _hba(config)
    assert hba.index(local_postgres[0]) < hba.index(["local", "all", "all", "scram-sha-256"])


def test_patroni_config_extra_hba_lines_come_last(defaults, pillar):
    extra = "hostssl all all 192.0.2.0/24 scram-sha-256"
    pillar["pgsalt"]["clusters"]["demo"]["postgresql"] = {"pg_hba": [extra]}
    cluster = execmod.cluster(defaults)
    assert execmod.patroni_config(cluster)["postgresql"]["pg_hba"][-1] == extra


def test_patroni_config_without_network_lists_each_member(defaults, pillar):
    demo = pillar["pgsalt"]["clusters"]["demo"]
    demo["network"] = None
    for mid, addr in loaders.DEMO.items():
        demo["members"][mid]["address"] = addr
    config = execmod.patroni_config(execmod.cluster(defaults))
    hba = _hba(config)
    everyone = [f[3] for f in hba if f[:3] == ["hostssl", "all", "all"]]
    assert sorted(everyone) == [f"{addr}/32" for addr in sorted(loaders.DEMO.values())]
    assert all("None" not in line for line in config["postgresql"]["pg_hba"])


def test_patroni_config_credentials(cluster):
    auth = execmod.patroni_config(cluster)["postgresql"]["authentication"]
    assert auth == {
        "superuser": {"username": "postgres", "password": DEMO_PASSWORDS["superuser"]},
        "replication": {"username": "replicator", "password": DEMO_PASSWORDS["replication"]},
        "rewind": {"username": "rewinder", "password": DEMO_PASSWORDS["rewind"]},
    }


def test_patroni_config_with_tls(cluster):
    config = execmod.patroni_config(cluster)
    assert config["restapi"] == {
        "listen": "10.77.0.12:8008", "connect_address": "10.77.0.12:8008",
        "authentication": {"username": "patroni", "password": DEMO_PASSWORDS["rest_api"]},
        "certfile": TLS_FILES["cert"], "keyfile": TLS_FILES["key"], "cafile": TLS_FILES["ca"]}
    # patronictl verifies the REST API's certificate
    assert config["ctl"] == {"cacert": TLS_FILES["ca"]}
    parameters = config["postgresql"]["parameters"]
    assert {key: value for key, value in parameters.items() if key.startswith("ssl")} == {
        "ssl": "on", "ssl_cert_file": TLS_FILES["cert"], "ssl_key_file": TLS_FILES["key"],
        "ssl_ca_file": TLS_FILES["ca"], "ssl_min_protocol_version": "TLSv1.2"}


def test_patroni_config_with_tls_off(defaults, pillar):
    _insecure_lab(pillar)
    config = execmod.patroni_config(execmod.cluster(defaults))
    hba = _hba(config)
    assert not [fields for fields in hba if fields[0] == "hostssl"]
    assert ["host", "replication", "replicator", "10.77.0.11/32", "scram-sha-256"] in hba
    assert ["host", "all", "rewinder", "10.77.0.11/32", "scram-sha-256"] in hba
    assert ["host", "all", "all", "10.77.0.0/24", "scram-sha-256"] in hba
    assert REJECT_OWN_USERS in hba
    assert not [key for key in config["postgresql"]["parameters"] if key.startswith("ssl")]
    assert "ctl" not in config
    # plain HTTP, but the unsafe endpoints still ask for the password
    assert config["restapi"] == {
        "listen": "10.77.0.12:8008", "connect_address": "10.77.0.12:8008",
        "authentication": {"username": "patroni", "password": DEMO_PASSWORDS["rest_api"]}}


def test_service_tls_is_the_tls_files_unless_tls_is_off(cluster, defaults, pillar):
    assert execmod.service_tls(cluster) == TLS_FILES
    _insecure_lab(pillar)
    assert execmod.service_tls(execmod.cluster(defaults)) is None


@pytest.mark.parametrize(
    ("timing", "expected"),
    [
        (None, {"ttl": 30, "loop_wait": 10, "retry_timeout": 10}),  # demo's default
        ("fast", {"ttl": 20, "loop_wait": 5, "retry_timeout": 5}),
    ],
)
def test_patroni_config_timing_from_the_profile(defaults, pillar, timing, expected):
    if timing:
        pillar["pgsalt"]["clusters"]["demo"]["patroni"]["timing"] = timing
    dcs = execmod.patroni_config(execmod.cluster(defaults))["bootstrap"]["dcs"]
    assert {key: dcs[key] for key in expected} == expected


def test_patroni_config_bootstrap_dcs(cluster):
    dcs = execmod.patroni_config(cluster)["bootstrap"]["dcs"]
    assert dcs["synchronous_mode"] is True
    assert dcs["synchronous_mode_strict"] is False
    assert dcs["failsafe_mode"] is False
    assert dcs["maximum_lag_on_failover"] == 1048576
    # synchronous_mode: a crashed primary fails over at once
    assert dcs["primary_start_timeout"] == 0
    assert dcs["postgresql"]["use_pg_rewind"] is True
    assert dcs["postgresql"]["use_slots"] is True
    params = dcs["postgresql"]["parameters"]
    assert params == cluster["postgresql"]["parameters"]
    assert params["max_connections"] == 200
    # pg_rewind needs wal_log_hints (the data checksums of initdb would do too)
    assert params["wal_log_hints"] == "on"
    assert "data-checksums" in execmod.patroni_config(cluster)["bootstrap"]["initdb"]


def test_patroni_config_parameters_are_a_copy(cluster):
    before = copy.deepcopy(cluster)
    config = execmod.patroni_config(cluster)
    config["bootstrap"]["dcs"]["postgresql"]["parameters"]["max_connections"] = 1
    assert cluster == before


@pytest.mark.parametrize(("minion", "osfinger"), [("pg5", "Debian-12")])
def test_patroni_config_second_cluster_on_debian_12(cluster, minion, osfinger):
    config = execmod.patroni_config(cluster)
    assert config["scope"] == "second"
    assert config["etcd3"]["hosts"] == ["10.77.0.11:2379", "10.77.0.12:2379", "10.77.0.13:2379"]
    assert config["postgresql"]["bin_dir"] == "/usr/lib/postgresql/15/bin"
    replication = [f for f in _hba(config) if f[1] == "replication"]
    assert [f[3] for f in replication] == ["127.0.0.1/32", "10.77.0.15/32"]
    assert ["hostssl", "all", "all", "10.77.0.0/24", "scram-sha-256"] in _hba(config)


# --------------------------------------------------------------------------
# etcd_environment(), haproxy_backends(), pgbouncer_databases(), auth_databases()
# --------------------------------------------------------------------------


def test_etcd_environment(cluster):
    env = execmod.etcd_environment(cluster)
    keys = [key for key, _ in env]
    assert len(keys) == len(set(keys))
    assert all(isinstance(value, str) for _, value in env)
    env = dict(env)
    assert env["ETCD_NAME"] == "pg2"
    assert env["ETCD_DATA_DIR"] == "/var/lib/etcd/default"
    assert env["ETCD_LISTEN_PEER_URLS"] == "https://10.77.0.12:2380"
    assert env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] == "https://10.77.0.12:2380"
    assert set(env["ETCD_LISTEN_CLIENT_URLS"].split(",")) == {
        "https://10.77.0.12:2379", "https://127.0.0.1:2379"
    }
    assert env["ETCD_ADVERTISE_CLIENT_URLS"] == "https://10.77.0.12:2379"
    assert env["ETCD_INITIAL_CLUSTER"] == (
        "pg1=https://10.77.0.11:2380,pg2=https://10.77.0.12:2380,pg3=https://10.77.0.13:2380"
    )
    assert env["ETCD_INITIAL_CLUSTER_TOKEN"] == "demo"
    assert env["ETCD_HEARTBEAT_INTERVAL"] == "100"
    assert env["ETCD_ELECTION_TIMEOUT"] == "1000"
    assert env["ETCD_ENABLE_V2"] == "false"
    # decided when the state runs, kept in a file of its own
    assert "ETCD_INITIAL_CLUSTER_STATE" not in env
    # clients and peers alike show a certificate from the cluster CA; etcd's has no CN, the
    # host's (an admin's) is for the formula's own calls
    assert env["PGSALT_ADMIN_CERT_FILE"] == TLS_FILES["cert"]
    for side in ("", "PEER_"):
        assert env[f"ETCD_{side}CERT_FILE"] == TLS_FILES["etcd_cert"]
        assert env[f"ETCD_{side}KEY_FILE"] == TLS_FILES["key"]
        assert env[f"ETCD_{side}TRUSTED_CA_FILE"] == TLS_FILES["ca"]
        assert env[f"ETCD_{side}CLIENT_CERT_AUTH"] == "true"
    assert execmod.etcd_urls(cluster) == ("https://10.77.0.12:2380", "https://10.77.0.12:2379")


def test_etcd_environment_with_tls_off(defaults, pillar):
    _insecure_lab(pillar)
    cluster = execmod.cluster(defaults)
    env = dict(execmod.etcd_environment(cluster))
    assert set(env["ETCD_LISTEN_CLIENT_URLS"].split(",")) == {
        "http://10.77.0.12:2379", "http://127.0.0.1:2379"
    }
    assert env["ETCD_INITIAL_CLUSTER"].count("=http://") == 3
    assert not [key for key in env if key.endswith(("_FILE", "_CERT_AUTH"))]
    assert execmod.etcd_urls(cluster) == ("http://10.77.0.12:2380", "http://10.77.0.12:2379")


def test_haproxy_backends(cluster):
    assert execmod.haproxy_backends(cluster) == [
        {"name": mid, "address": addr, "port": 5432, "check_port": 8008}
        for mid, addr in sorted(loaders.DB.items())
    ]


def _dsn(value):
    return dict(part.split("=", 1) for part in value.split())


@pytest.mark.parametrize(
    ("osfinger", "auth_entry"), [("Debian-13", True), ("Debian-12", False)]
)
def test_pgbouncer_databases(cluster, osfinger, auth_entry):
    databases = {name: _dsn(dsn) for name, dsn in execmod.pgbouncer_databases(cluster).items()}
    expected = {
        "app": {"host": "127.0.0.1", "port": "5000", "dbname": "app"},
        "app_ro": {"host": "127.0.0.1", "port": "5001", "dbname": "app"},
    }
    if auth_entry:
        # auth_dbname: auth_query runs in postgres, on the leader (the rw port)
        expected["pgsalt_auth"] = {"host": "127.0.0.1", "port": "5000", "dbname": "postgres"}
    assert databases == expected


@pytest.mark.parametrize(
    ("osfinger", "expected"),
    [("Debian-13", ["postgres"]), ("Debian-12", ["postgres", "app"])],
)
def test_auth_databases(cluster, osfinger, expected):
    assert execmod.auth_databases(cluster) == expected


def test_pgbouncer_databases_follow_ports_and_suffix(defaults, pillar):
    demo = pillar["pgsalt"]["clusters"]["demo"]
    demo["haproxy"] = {"rw_port": 6000, "ro_port": 6001}
    demo["pgbouncer"] = {"ro_suffix": "-replica", "auth_database": "authdb"}
    demo["databases"]["shop"] = {"owner": "app"}
    cluster = execmod.cluster(defaults)
    databases = {name: _dsn(dsn) for name, dsn in execmod.pgbouncer_databases(cluster).items()}
    assert sorted(databases) == ["app", "app-replica", "authdb", "shop", "shop-replica"]
    assert databases["shop"]["port"] == "6000"
    assert databases["shop-replica"] == {"host": "127.0.0.1", "port": "6001", "dbname": "shop"}
    assert databases["authdb"]["dbname"] == "postgres"


# --------------------------------------------------------------------------
# keepalived_config()
# --------------------------------------------------------------------------

VIP_PASSWORD = "Vq7-pX2k"


@pytest.mark.parametrize("osfinger", ["Debian-13", "Debian-12"])
def test_keepalived_config_vrrp_in_unicast_to_the_other_balancers(cluster, osfinger):
    config = execmod.keepalived_config(cluster)
    assert config["router_id"] == "pg2"
    assert config["instance"] == "pgsalt_demo"
    assert (config["interface"], config["virtual_router_id"]) == ("host0", 51)
    assert config["address"] == "10.77.0.250/32"
    assert config["unicast_src_ip"] == "10.77.0.12"
    assert config["unicast_peers"] == ["10.77.0.11", "10.77.0.13"]
    assert config["advert_int"] == 1
    assert config["password"] == VIP_PASSWORD
    # every host starts as BACKUP; without preemption a returning host leaves the VIP be
    assert config["preempt"] is False


@pytest.mark.parametrize(("minion", "priority"), [("pg1", 254), ("pg2", 253), ("pg3", 252)])
def test_keepalived_config_priorities_in_id_order(cluster, minion, priority):
    assert execmod.keepalived_config(cluster)["priority"] == priority


def test_keepalived_config_pillar_priority_and_preempt(defaults, pillar):
    pillar["pgsalt"]["clusters"]["demo"]["vip"].update(priority={"pg2": 50}, preempt=True)
    config = execmod.keepalived_config(execmod.cluster(defaults))
    assert (config["priority"], config["preempt"]) == (50, True)


def test_keepalived_config_tracks_haproxy_and_notifies_salt(cluster):
    config = execmod.keepalived_config(cluster)
    scripts = config["scripts"]
    assert scripts == {"check": "/etc/keepalived/pgsalt-check-haproxy",
                       "notify": "/etc/keepalived/pgsalt-notify"}
    check = config["check"]
    # HAProxy's monitor URI on its stats listener, on this host's own address
    assert check["command"].split() == [scripts["check"], "10.77.0.12", "7000", "/alive"]
    # a dead HAProxy gives the VIP up after 2 failed checks, 1 s apart
    assert (check["interval"], check["timeout"], check["fall"], check["rise"]) == (1, 1, 2, 2)
    salt_call = execmod._salt_call()
    assert salt_call.endswith("salt-call")
    assert config["notify"].split() == [scripts["notify"], salt_call, "demo", "10.77.0.250",
                                        "pg2"]


def test_salt_call_is_the_minions_own(monkeypatch, tmp_path):
    (tmp_path / "salt-call").touch()
    monkeypatch.setattr(execmod.sys, "executable", str(tmp_path / "python3"))
    assert execmod._salt_call() == str(tmp_path / "salt-call")


@pytest.mark.parametrize(("minion", "cluster_without_vip"), [("pg4", False), ("pg5", True)])
def test_keepalived_config_only_on_balancers_of_a_cluster_with_a_vip(cluster, minion,
                                                                     cluster_without_vip):
    assert (cluster["vip"]["address"] is None) is cluster_without_vip
    with pytest.raises(CommandExecutionError, match=f"vip:address; {minion} is not one"):
        execmod.keepalived_config(cluster)


def test_keepalived_config_refuses_a_vip_a_member_has(defaults, dunders):
    mine = dict(loaders.ADDRESSES, pg3=["10.77.0.250"])
    dunders["__salt__"]["mine.get"].return_value = mine
    with pytest.raises(CommandExecutionError, match="vip:address: 10.77.0.250 is the address "
                                                    "of member pg3"):
        execmod.keepalived_config(execmod.cluster(defaults))


# --------------------------------------------------------------------------
# plan() (what orchestrations follow)
# --------------------------------------------------------------------------


def _clusters(pillar):
    return pillar["pgsalt"]["clusters"]


def test_plan_roles(pillar, defaults):
    plan = execmod.plan(_clusters(pillar), "demo", defaults, loaders.KNOWN_MINIONS)
    assert plan["errors"] == []
    assert plan["cluster"] == "demo"
    assert plan["members"] == ["pg1", "pg2", "pg3", "pg4"]
    assert plan["dcs"] == plan["db"] == plan["balancer"] == ["pg1", "pg2", "pg3"]
    assert plan["backup"] == {"type": "tls", "repository": "pg4", "stanza": "demo",
                              "hosts": ["pg1", "pg2", "pg3", "pg4"],
                              "drill": {"cluster": "demo", "port": 5499, "bin_dir": None,
                                        "path": "/var/lib/pgbackrest-drill"}}
    assert plan["dcs_cluster"] is None
    assert plan["vip"] == "10.77.0.250"
    second = execmod.plan(_clusters(pillar), "second", defaults, loaders.KNOWN_MINIONS)
    assert second["errors"] == []
    assert (second["members"], second["dcs"], second["db"]) == (["pg5"], [], ["pg5"])
    assert second["dcs_cluster"] == "demo"
    assert second["vip"] is None


def test_plan_tls_hosts(pillar, defaults):
    clusters = _clusters(pillar)
    # pg3 runs no PostgreSQL: it needs a certificate for TLS alone, not for pgBackRest
    clusters["demo"]["members"]["pg3"]["roles"] = ["dcs", "balancer"]

    def tls(name):
        plan = execmod.plan(clusters, name, defaults, loaders.KNOWN_MINIONS)
        assert plan["errors"] == []
        return plan["tls"]

    assert tls("demo") == {"hosts": ["pg1", "pg2", "pg3", "pg4"], "ca": "demo", "own_ca": None,
                           "days": 365, "renew_days": 30}
    # on demo's etcd, their certificates come from demo's CA, the one etcd trusts
    assert tls("second")["hosts"] == ["pg5"] and tls("second")["ca"] == "demo"
    assert tls("dr")["hosts"] == ["pg6"] and tls("dr")["ca"] == "demo"
    for name in ("demo", "second"):
        _insecure_lab(pillar, name)
    # TLS off: pgBackRest's hosts still talk TLS with a tls repository, nobody with posix
    assert tls("demo")["hosts"] == ["pg1", "pg2", "pg4"]
    assert tls("second")["hosts"] == []


def test_plan_with_an_own_ca(pillar, defaults, tmp_path):
    clusters = _clusters(pillar)
    clusters["demo"]["tls"] = {"own_ca": loaders.own_ca(tmp_path)}
    plan = execmod.plan(clusters, "second", defaults, loaders.KNOWN_MINIONS)
    assert plan["errors"] == []
    # second is on demo's etcd: demo's CA signs its certificates
    assert plan["tls"]["own_ca"] == {"cluster": "demo", "cert": f"{tmp_path}/ca.crt",
                                     "key": f"{tmp_path}/ca.key"}


def test_plan_refuses_an_own_ca_whose_key_is_another(pillar, defaults, tmp_path):
    clusters = _clusters(pillar)
    own_ca = loaders.own_ca(tmp_path / "mine")
    own_ca["key"] = loaders.own_ca(tmp_path / "other")["key"]
    clusters["demo"]["tls"] = {"own_ca": own_ca}
    assert execmod.plan(clusters, "second", defaults, loaders.KNOWN_MINIONS) == {
        "cluster": "second",
        "errors": [f"pgsalt:clusters:demo:tls:own_ca:key: {own_ca['key']} does not match the "
                   f"certificate {own_ca['cert']}; expected a CA certificate and its key on the "
                   "Salt master"],
    }


def test_plan_refuses_a_broken_pillar_without_leaking_passwords(pillar, defaults):
    demo = _clusters(pillar)["demo"]
    demo["members"]["pg8"] = {"roles": ["db", "dancer"]}
    demo["users"]["rewind"]["password"] = "short-secret"
    plan = execmod.plan(_clusters(pillar), "demo", defaults, loaders.KNOWN_MINIONS)
    assert plan["cluster"] == "demo"
    assert "members" not in plan
    text = "\n".join(plan["errors"])
    assert "pgsalt:clusters:demo:members:pg8: not a known minion" in text
    assert "pgsalt:clusters:demo:members:pg8:roles: unknown role 'dancer'" in text
    assert "pgsalt:clusters:demo:users:rewind:password: shorter than" in text
    assert "short-secret" not in text
    # no name with two clusters in pillar
    assert execmod.plan(_clusters(pillar), None, defaults, loaders.KNOWN_MINIONS)["errors"]


# --------------------------------------------------------------------------
# a member whose address is not known (yet)
# --------------------------------------------------------------------------


def test_cluster_refuses_a_member_missing_from_the_mine(defaults, dunders):
    mine = {mid: addrs for mid, addrs in loaders.ADDRESSES.items() if mid != "pg3"}
    dunders["__salt__"]["mine.get"].return_value = mine
    with pytest.raises(CommandExecutionError, match="no address for pg3"):
        execmod.cluster(defaults)
