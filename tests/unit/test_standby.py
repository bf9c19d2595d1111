"""A standby cluster (pillar standby:cluster, Patroni's standby_cluster) and orch.promote_standby:
validation, the resolved cluster, plan(), Patroni's config on both sides, the SQL objects
and the orchestration, over the shipped pillar (cluster dr stands by on demo)."""

import copy
import json

import loaders
import pgsalt_model as model
import pytest
import test_render
import yaml
from salt.exceptions import CommandExecutionError
from test_render import ALL_ROLES, _args, _check_high, _managed, _plain, _refusal, _wheel

pytestmark = pytest.mark.unit

execmod = loaders.load("pgsalt_execmod_for_standby", "_modules/pgsalt.py")
# test_render's fixtures: render(minion, osfinger, pillar) renders SLS files as Salt would.
salt_opts, file_client, render = test_render.salt_opts, test_render.file_client, test_render.render

DEMO_USERS = {"superuser": "demo-superuser-7Hq2xLp9", "replication": "demo-replication-K4vT8sWn",
              "rewind": "demo-rewind-P3mZ6yRc", "pgbouncer_auth": "demo-pgbouncer-Ju5nB2eX",
              "rest_api": "demo-rest-api-Qx4mT7vLp2",
              "haproxy_stats": "demo-haproxy-stats-Hn3wK8cZ", "etcd": "demo-etcd-login-Zp6yN2wQ"}
DR = "pgsalt:clusters:dr"


@pytest.fixture(scope="module")
def defaults():
    return loaders.defaults()


@pytest.fixture
def clusters():
    return copy.deepcopy(loaders.shipped_pillar()["pgsalt"]["clusters"])


def errors(clusters, defaults, name="dr"):
    return model.validate(clusters, name, defaults, loaders.KNOWN_MINIONS)


def without_vip(clusters):
    del clusters["demo"]["vip"]
    return clusters


# --------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------


def test_shipped_standby_and_its_source_are_valid(clusters, defaults):
    assert errors(clusters, defaults) == []
    assert errors(clusters, defaults, "demo") == []


def test_source_without_vip_is_valid_through_its_balancers(clusters, defaults):
    assert errors(without_vip(clusters), defaults) == []


def _one(found, start):
    assert [e for e in found if e.startswith(start)] != [], found
    return next(e for e in found if e.startswith(start))


def test_refused_an_unknown_source(clusters, defaults):
    clusters["dr"]["standby"]["cluster"] = "nope"
    error = _one(errors(clusters, defaults), f"{DR}:standby:cluster:")
    assert "'nope': no such cluster in pillar" in error
    assert "accepted: bookworm, demo, second" in error


def test_refused_standing_by_on_itself(clusters, defaults):
    clusters["dr"]["standby"]["cluster"] = "dr"
    error = _one(errors(clusters, defaults), f"{DR}:standby:cluster:")
    assert "a cluster cannot stand by on itself" in error


def test_refused_a_chain_of_standbys(clusters, defaults):
    clusters["second"]["standby"] = {"cluster": "demo"}
    del clusters["second"]["pgbackrest"]
    for key in ("users", "roles", "databases"):
        del clusters["second"][key]
    assert errors(clusters, defaults, "second") == []
    clusters["dr"]["standby"]["cluster"] = "second"
    error = _one(errors(clusters, defaults), f"{DR}:standby:cluster:")
    assert "'second' is itself a standby (of 'demo')" in error
    assert "do not chain" in error


def test_refused_a_source_without_an_endpoint(clusters, defaults):
    without_vip(clusters)
    for spec in clusters["demo"]["members"].values():
        spec["roles"] = [role for role in spec["roles"] if role != "balancer"]
    error = _one(errors(clusters, defaults), f"{DR}:standby:cluster:")
    assert "no member with role balancer and no vip" in error


@pytest.mark.parametrize(("key", "value"), [
    ("users", {"superuser": {"password": "dr-superuser-password-1"}}),
    ("roles", {"app": {"password": "demo-app-password-W8fD3kQs"}}),
    ("databases", {"app": {"owner": "app"}}),
])
def test_refused_own_users_roles_or_databases(clusters, defaults, key, value):
    clusters["dr"][key] = value
    error = _one(errors(clusters, defaults), f"{DR}:{key}:")
    assert "set on a standby cluster" in error and "pgsalt:clusters:demo" in error
    # the value itself is never quoted (it may hold a password)
    assert "password-" not in " ".join(errors(clusters, defaults))


def test_refused_backups_on_a_standby(clusters, defaults):
    clusters["dr"]["pgbackrest"] = {"enabled": True, "repository": {"type": "posix"}}
    error = _one(errors(clusters, defaults), f"{DR}:pgbackrest:enabled:")
    assert "archived and backed up on its source pgsalt:clusters:demo" in error


@pytest.mark.parametrize(("standby", "start"), [
    ("demo", f"{DR}:standby: must be a mapping"),
    ({"cluster": "demo", "host": "x"}, f"{DR}:standby:host: unknown key"),
])
def test_refused_a_malformed_standby_section(clusters, defaults, standby, start):
    clusters["dr"]["standby"] = standby
    _one(errors(clusters, defaults), start)


def test_source_users_are_checked_under_the_sources_key(clusters, defaults):
    clusters["demo"]["users"]["replication"]["password"] = "short"
    found = errors(clusters, defaults)
    assert ("pgsalt:clusters:demo:users:replication:password: shorter than 16 characters; "
            "expected at least 16") in found
    assert not [e for e in found if e.startswith(f"{DR}:users")]


def test_an_unknown_source_adds_no_noise_about_users(clusters, defaults):
    clusters["dr"]["standby"]["cluster"] = "nope"
    assert [e.split(":")[3] for e in errors(clusters, defaults)] == ["standby"]


# --------------------------------------------------------------------------
# resolve and plan
# --------------------------------------------------------------------------


def resolved(clusters, defaults, name="dr", addresses=None):
    return model.resolve(name, clusters, defaults, "Debian-13",
                         loaders.ADDRESSES if addresses is None else addresses)


def test_standby_takes_the_sources_users_roles_and_databases(clusters, defaults):
    dr, demo = resolved(clusters, defaults), resolved(clusters, defaults, "demo")
    for key in ("users", "roles", "databases"):
        assert dr[key] == demo[key]
    assert {user: spec["password"] for user, spec in dr["users"].items()} == DEMO_USERS
    assert dr["scope"] == "dr" and dr["postgresql"]["data_dir"] == "/var/lib/postgresql/17/dr"


def test_standby_endpoint_is_the_sources_vip_else_its_balancers(clusters, defaults):
    assert resolved(clusters, defaults)["standby_endpoint"] == {"host": "10.77.0.250",
                                                                "port": 5000}
    clusters["demo"]["haproxy"] = {"rw_port": 5100}
    cluster = resolved(without_vip(clusters), defaults)
    assert cluster["standby_endpoint"] == {"host": "10.77.0.11,10.77.0.12,10.77.0.13",
                                           "port": 5100}
    assert cluster["unaddressed"] == []


def test_source_balancer_without_address_is_unaddressed(clusters, defaults):
    addresses = {mid: a for mid, a in loaders.ADDRESSES.items() if mid != "pg3"}
    cluster = resolved(without_vip(clusters), defaults, addresses=addresses)
    assert cluster["standby_endpoint"]["host"] == "10.77.0.11,10.77.0.12"
    assert cluster["unaddressed"] == ["pg3"]


def test_standby_clients_are_the_sources_balancers(clusters, defaults):
    assert resolved(clusters, defaults, "demo")["standby_clients"] == [
        "10.77.0.11", "10.77.0.12", "10.77.0.13"]
    assert resolved(clusters, defaults, "second")["standby_clients"] == []
    assert resolved(clusters, defaults)["standby_clients"] == []
    del clusters["dr"]
    assert resolved(clusters, defaults, "demo")["standby_clients"] == []


def test_a_cluster_of_its_own_has_no_standby(clusters, defaults):
    cluster = resolved(clusters, defaults, "second")
    assert cluster["standby_endpoint"] is None
    # Its own users (GPG-encrypted in the bed's pillar), not a source's.
    assert cluster["users"]["superuser"]["password"].startswith("-----BEGIN PGP MESSAGE-----")
    assert cluster["users"] is not resolved(clusters, defaults, "demo")["users"]


def test_plan(clusters, defaults):
    dr = model.plan(clusters, "dr", defaults, loaders.KNOWN_MINIONS)
    assert dr["errors"] == []
    assert dr["standby"] == {"cluster": "demo"}
    assert (dr["db"], dr["balancer"], dr["backup"], dr["dcs_cluster"]) == (
        ["pg6"], ["pg6"], {}, "demo")
    assert model.plan(clusters, "demo", defaults, loaders.KNOWN_MINIONS)["standby"] == {}
    clusters["dr"]["standby"]["cluster"] = "dr"
    refused = model.plan(clusters, "dr", defaults, loaders.KNOWN_MINIONS)
    assert "standby" not in refused and refused["errors"]


# --------------------------------------------------------------------------
# Patroni's config on the standby and on its source
# --------------------------------------------------------------------------


def minion_cluster(defaults, minion, pillar=None):
    pillar = loaders.shipped_pillar() if pillar is None else pillar
    for name, value in loaders.minion_globals(minion, "Debian-13", pillar).items():
        setattr(execmod, name, value)
    return execmod.cluster(defaults)


def _hba(config):
    return [line.split() for line in config["postgresql"]["pg_hba"]]


def test_patroni_config_of_the_standby(defaults):
    cluster = minion_cluster(defaults, "pg6")
    config = execmod.patroni_config(cluster)
    assert config["scope"] == "dr" and config["name"] == "pg6"
    assert config["bootstrap"]["dcs"]["standby_cluster"] == {
        "host": "10.77.0.250", "port": 5000, "create_replica_methods": ["basebackup"]}
    assert "method" not in config["bootstrap"]
    auth = config["postgresql"]["authentication"]
    # the source's users: the data is a copy of its
    assert {key: spec["password"] for key, spec in auth.items()} == {
        key: DEMO_USERS[key] for key in ("superuser", "replication", "rewind")}
    assert config["postgresql"]["create_replica_methods"] == ["basebackup"]
    assert "archive_command" not in config["postgresql"]["parameters"]
    assert config["etcd3"]["hosts"] == ["10.77.0.11:2379", "10.77.0.12:2379", "10.77.0.13:2379"]


def test_patroni_config_of_a_cluster_of_its_own_has_no_standby_cluster(defaults):
    for minion in ("pg2", "pg5"):
        config = execmod.patroni_config(minion_cluster(defaults, minion))
        assert "standby_cluster" not in config["bootstrap"]["dcs"]


def test_source_hba_needs_nothing_when_its_balancers_are_db_hosts(defaults):
    with_dr = execmod.patroni_config(minion_cluster(defaults, "pg2"))
    pillar = loaders.shipped_pillar()
    del pillar["pgsalt"]["clusters"]["dr"]
    without = execmod.patroni_config(minion_cluster(defaults, "pg2", pillar))
    assert with_dr["postgresql"]["pg_hba"] == without["postgresql"]["pg_hba"]


def test_source_hba_lets_a_balancer_of_its_own_replicate(defaults):
    # pg5 becomes a demo balancer on a host of its own: HAProxy there connects to the
    # leader from 10.77.0.15, which the standby leader's replication connection comes from.
    pillar = loaders.shipped_pillar()
    clusters = pillar["pgsalt"]["clusters"]
    del clusters["second"]
    clusters["demo"]["members"]["pg5"] = {"roles": ["balancer"]}
    hba = _hba(execmod.patroni_config(minion_cluster(defaults, "pg2", pillar)))
    replication = sorted(f[3] for f in hba if f[1] == "replication")
    assert replication == ["10.77.0.11/32", "10.77.0.12/32", "10.77.0.13/32", "10.77.0.15/32",
                           "127.0.0.1/32"]
    assert ["hostssl", "replication", "replicator", "10.77.0.15/32", "scram-sha-256"] in hba
    del clusters["dr"]
    hba = _hba(execmod.patroni_config(minion_cluster(defaults, "pg2", pillar)))
    assert "10.77.0.15/32" not in [f[3] for f in hba if f[1] == "replication"]


def test_standby_without_the_source_balancers_addresses_is_refused(defaults):
    pillar = loaders.shipped_pillar()
    without_vip(pillar["pgsalt"]["clusters"])
    mine = {mid: a for mid, a in loaders.ADDRESSES.items() if mid != "pg1"}
    for name, value in loaders.minion_globals("pg6", "Debian-13", pillar, mine).items():
        setattr(execmod, name, value)
    with pytest.raises(CommandExecutionError, match="no address for pg1"):
        execmod.cluster(defaults)


# --------------------------------------------------------------------------
# the states of a standby member, rendered
# --------------------------------------------------------------------------


def test_highstate_of_a_standby_member(render):
    node = render("pg6")
    rendered = node.highstate("pgsalt")
    assert set(rendered) == {sls for sls in ALL_ROLES if not sls.startswith("etcd")}
    _check_high(rendered)
    objects = node.sls("postgresql.objects")
    # standby cluster: objects come from the source
    assert sorted(objects) == ["include", "postgresql-objects-standby"]
    fun, args = _args(objects["postgresql-objects-standby"])
    assert fun == "test.succeed_without_changes"
    assert "objects come from the source, pgsalt:clusters:demo" in args["name"]


def test_patroni_config_file_of_a_standby_member(render):
    node = render("pg6")
    source, context, _ = _managed(node, "patroni.config", "patroni-config-file")
    config = yaml.safe_load(node.file(source, context))
    assert config["bootstrap"]["dcs"]["standby_cluster"] == {
        "host": "10.77.0.250", "port": 5000, "create_replica_methods": ["basebackup"]}


# --------------------------------------------------------------------------
# orch.promote_standby and orch.deploy of a standby
# --------------------------------------------------------------------------


def _orch(render, sls, cluster, answers=None, pillar=None):
    """SLS rendered on the master for CLUSTER; saltutil.cmd answers ANSWERS ({minion: ret})."""
    node = render("bedmaster_master", None, pillar)
    node.pillar["cluster"] = cluster
    node.functions["saltutil.wheel"] = _wheel(loaders.KNOWN_MINIONS)
    calls = []

    def cmd(tgt, fun, *args, **kwargs):  # a plain function: Jinja's sandbox calls no mock
        calls.append((tgt, fun, kwargs.get("tgt_type")))
        return {mid: {"ret": ret, "retcode": 0} for mid, ret in (answers or {}).items()}

    node.functions["saltutil.cmd"] = cmd
    node.reload()
    return node.sls(sls), calls


def _steps(rendered):
    return {id_: _args(body) for id_, body in rendered.items()}


def test_promote_standby(render):
    rendered, calls = _orch(render, "orch.promote_standby", "dr")
    _check_high({"orch.promote_standby": rendered})
    assert calls == []  # rendering asks no host anything
    steps = _steps(rendered)
    assert list(steps) == ["pgsalt-promote-standby-sync", "pgsalt-promote-standby"]
    assert all(args["failhard"] is True for _, args in steps.values())
    fun, sync = steps["pgsalt-promote-standby-sync"]
    assert (fun, sync["sls"], sync["tgt"], sync["test"]) == ("salt.state", "pgsalt.sync", "pg6",
                                                            False)
    fun, promote = steps["pgsalt-promote-standby"]
    assert (fun, promote["name"], _plain(promote["db"])) == ("pgsalt_cluster.promoted", "dr",
                                                            ["pg6"])
    text = json.dumps(_plain(rendered))
    assert [p for p in loaders.passwords(loaders.shipped_pillar()) if p in text] == []


def test_promote_refuses_a_cluster_that_is_no_standby(render):
    rendered, calls = _orch(render, "orch.promote_standby", "demo")
    _, text = _refusal(rendered)
    assert "pgsalt:clusters:demo:standby:cluster: not set" in text
    assert "no host was touched" in text
    assert calls == []


def test_promote_refuses_a_broken_pillar(render):
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"]["dr"]["standby"]["cluster"] = "nope"
    rendered, calls = _orch(render, "orch.promote_standby", "dr", pillar=pillar)
    _, text = _refusal(rendered)
    assert "pgsalt:clusters:dr:standby:cluster: 'nope': no such cluster" in text
    assert calls == []


def test_deploy_of_a_standby(render):
    rendered, _ = _orch(render, "orch.deploy", "dr")
    _check_high({"orch.deploy": rendered})
    steps = _steps(rendered)
    # no etcd of its own (its login on demo's is made by demo's hosts), no backups; the SQL
    # objects step is a no-op on it
    assert not [id_ for id_ in steps if "backup" in id_]
    assert [id_ for id_ in steps if "etcd" in id_] == ["pgsalt-deploy-etcd-login"]
    assert steps["pgsalt-deploy-etcd-login"][1]["tgt"] == "pg1,pg2,pg3"
    # TLS on: the cluster CA signs pg6's certificate before PostgreSQL is set up
    fun, issue = steps["pgsalt-deploy-tls-certificates"]
    assert (fun, issue["name"], issue["minions"]) == ("salt.runner", "pgsalt_ca.issue", ["pg6"])
    requires = test_render._requires(steps["pgsalt-deploy-prepare"][1])
    assert "pgsalt-deploy-tls-certificates" in requires
    assert steps["pgsalt-deploy-patroni-pg6"][1]["sls"] == "patroni.service"
    assert steps["pgsalt-deploy-sql-objects"][1]["tgt"] == "pg6"
