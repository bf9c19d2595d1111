"""Day-2 orchestrations on the deployed demo cluster, each under a write load through
PgBouncer (6432): switchover with and without the pooler paused, failover, a rolling
config change, scale-out and removal, a minor upgrade, and a standby cluster.

Each test leaves the cluster as pillar describes it (the pillar override is reset)."""

import contextlib
import json
import time

import pytest
from checks import assert_one_leader_and_streaming_replicas, roles
from load import measured
from scenarios import conninfo

pytestmark = pytest.mark.e2e

DB = ["pg1", "pg2", "pg3"]
DEMO = ["pgsalt", "clusters", "demo"]


def _nest(keys, value):
    for key in reversed(keys):
        value = {key: value}
    return value


@contextlib.contextmanager
def pillar(bed, **demo_changes):
    """The demo cluster with DEMO_CHANGES merged over pillar, for the block."""
    bed.override_pillar(_nest(DEMO, demo_changes))
    try:
        yield
    finally:
        bed.override_pillar(None)


def write_load(node="pg1"):
    """Small committed transactions through NODE's PgBouncer, measured."""
    return measured(conninfo(node, 6432))


def _add(bed, host):
    bed.tb("add", host)  # a host that exists is only started
    bed.tb("salt-run", "saltutil.sync_all")


def leader(bed):
    return assert_one_leader_and_streaming_replicas(bed, DB)


def test_switchover_plan_and_refusals_change_nothing(bed, demo):
    before = leader(bed)
    ok, by_id = bed.orchestrate("orch.switchover", {"cluster": "demo", "pause_pooler": True},
                                test=True)
    assert ok, by_id
    comment = by_id["pgsalt-switchover"]["comment"]
    assert comment.startswith("Would pause PgBouncer on pg1, pg2, pg3, switch over"), comment
    ok, by_id = bed.orchestrate("orch.switchover", {"cluster": "demo", "candidate": "pg4"})
    assert not ok
    assert "pg4 is no member of the cluster" in by_id["pgsalt-switchover"]["comment"]
    ok, by_id = bed.orchestrate("orch.switchover", {"cluster": "demo", "candidate": before})
    assert ok and not by_id["pgsalt-switchover"]["changes"], by_id
    assert leader(bed) == before


@pytest.mark.parametrize("pause", [True, False], ids=["pooler-paused", "no-pause"])
def test_switchover_under_load(bed, demo, pause):
    before = leader(bed)
    with write_load() as load:
        ok, by_id = bed.orchestrate("orch.switchover", {"cluster": "demo", "pause_pooler": pause})
    assert ok, by_id
    new = by_id["pgsalt-switchover"]["changes"]["new"]
    assert new["leader"] != before and leader(bed) == new["leader"]
    assert load["lost"] == [], load
    if pause:
        assert load["failed"] == [], load
        assert new["paused"] == ["pg1", "pg2", "pg3"] and new["held_s"] < 10, new
    print(f"switchover pause={pause}: {json.dumps(new)} load={json.dumps(load)}")


def test_failover_to_a_named_replica(bed, demo):
    before = leader(bed)
    candidate = next(m for m in DB if m != before)
    ok, by_id = bed.orchestrate("orch.failover", {"cluster": "demo", "candidate": candidate},
                                test=True)
    assert ok and leader(bed) == before, by_id
    ok, by_id = bed.orchestrate("orch.failover", {"cluster": "demo", "candidate": candidate})
    assert ok, by_id
    assert leader(bed) == candidate
    ok, by_id = bed.orchestrate("orch.failover", {"cluster": "demo", "candidate": candidate})
    assert ok and not by_id["pgsalt-failover"]["changes"], by_id


def _started(bed):
    return {m: bed.psql("SELECT pg_postmaster_start_time()", node=m, port=5432) for m in DB}


def _shared_buffers(bed):
    return {m: bed.psql("SHOW shared_buffers", node=m, port=5432) for m in DB}


def test_a_parameter_that_needs_a_restart_rolls_through_the_hosts(bed, demo):
    before, started = leader(bed), _started(bed)
    try:
        with pillar(bed, postgresql={"parameters": {"shared_buffers": "144MB"}}):
            ok, by_id = bed.orchestrate("orch.config", {"cluster": "demo"}, test=True)
            assert ok, by_id
            assert _started(bed) == started  # test=True restarts nothing
            with write_load() as load:
                ok, by_id = bed.orchestrate("orch.config", {"cluster": "demo"})
            assert ok, by_id
            assert _shared_buffers(bed) == dict.fromkeys(DB, "144MB")
            report = by_id["pgsalt-config-rolling-restart"]["changes"]["new"]
            # every host once; the leader last, after a switchover
            assert sorted(report["restarted"]) == DB and report["restarted"][-1] == before
            assert report["switchover"]["old_leader"] == before and leader(bed) != before
            after = _started(bed)
            assert all(after[m] != started[m] for m in DB)
            assert max(after, key=after.get) == before
            assert load["failed"] == [] and load["lost"] == [], load
            print(f"rolling restart: {json.dumps(report)} load={json.dumps(load)}")
            # nothing pending: a re-run restarts nothing
            ok, by_id = bed.orchestrate("orch.config", {"cluster": "demo"})
            assert ok and _started(bed) == after, by_id
    finally:
        ok, by_id = bed.orchestrate("orch.config", {"cluster": "demo"})
        assert ok, by_id
    assert _shared_buffers(bed) == dict.fromkeys(DB, "128MB")


def test_scale_out_to_a_fourth_db_host_then_remove_it(bed, demo):
    _add(bed, "pg7")
    with pillar(bed, members={"pg7": {"roles": ["db"]}}):
        ok, by_id = bed.orchestrate("orch.scale_out", {"cluster": "demo"}, test=True)
        assert ok, by_id
        assert "pg7" not in roles(bed, "pg1")
        with write_load() as load:
            ok, by_id = bed.orchestrate("orch.scale_out", {"cluster": "demo"})
        assert ok, by_id
        assert load["failed"] == [] and load["lost"] == [], load
        lead = assert_one_leader_and_streaming_replicas(bed, DB + ["pg7"])
        # built from the repository, not from the leader
        assert "restore command end: completed successfully" in bed.sh(
            "pg7", "cat", "/var/log/pgbackrest/demo-restore.log")
        assert "pg7" in bed.salt("pg1", "pgsalt_haproxy.servers")["pg1"]
        seconds = {sid: round(v.get("duration", 0) / 1000, 1) for sid, v in by_id.items()}
        print(f"scale-out: {json.dumps(seconds)}")
        # the leader is refused, and so is a host pillar still lists
        ok, by_id = bed.orchestrate("orch.remove_node", {"cluster": "demo", "node": lead})
        assert not ok and "run orch.switchover first" in json.dumps(by_id)
        ok, by_id = bed.orchestrate("orch.remove_node", {"cluster": "demo", "node": "pg7"})
        assert not ok and "remove it from the pillar first" in json.dumps(by_id)
    with write_load() as load:
        ok, by_id = bed.orchestrate("orch.remove_node", {"cluster": "demo", "node": "pg7"})
    assert ok, by_id
    assert load["failed"] == [] and load["lost"] == [], load
    assert sorted(roles(bed, "pg1")) == DB
    assert "pg7" not in bed.salt("pg1", "pgsalt_haproxy.servers")["pg1"]
    assert bed.sh("pg7", "systemctl", "is-active", "patroni", check=False).strip() != "active"
    ok, by_id = bed.orchestrate("orch.remove_node", {"cluster": "demo", "node": "pg7"})
    assert ok, by_id  # a re-run is safe


def _haproxy_versions(bed):
    return {m: bed.sh(m, "dpkg-query", "-W", "-f=${Version}", "haproxy").strip() for m in DB}


def test_minor_upgrade_of_haproxy_rolls_host_by_host(bed, demo):
    # apt-cache madison lists the newest first.
    listed = [line.split("|")[1].strip() for line in
              bed.sh("pg1", "apt-cache", "madison", "haproxy").splitlines() if "|" in line]
    versions = list(dict.fromkeys(listed))
    if len(versions) < 2:
        pytest.skip("the mirror carries one haproxy version: nothing to upgrade between")
    old = versions[-1]
    for m in DB:
        bed.sh(m, "sh", "-c", f"DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "
                              f"--allow-downgrades haproxy={old} >/dev/null")
    assert set(_haproxy_versions(bed).values()) == {old}
    before = leader(bed)
    ok, by_id = bed.orchestrate("orch.minor_upgrade", {"cluster": "demo"}, test=True)
    assert ok, by_id
    assert set(_haproxy_versions(bed).values()) == {old}
    with write_load() as load:
        ok, by_id = bed.orchestrate("orch.minor_upgrade", {"cluster": "demo"})
    assert ok, by_id
    assert load["failed"] == [] and load["lost"] == [], load
    assert old not in set(_haproxy_versions(bed).values())
    assert leader(bed) == before  # HAProxy alone: no switchover needed
    ok, by_id = bed.orchestrate("orch.minor_upgrade", {"cluster": "demo"})
    assert ok and not by_id["pgsalt-minor-upgrade"]["changes"], by_id


def test_standby_cluster_follows_demo_and_is_promoted(bed, demo):
    _add(bed, "pg6")
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "dr"})
    assert ok, by_id
    assert roles(bed, "pg6") == {"pg6": ("standby_leader", "streaming")}
    token = str(time.time())
    bed.psql("CREATE TABLE IF NOT EXISTS standby_probe (token text)", port=5000)
    bed.psql(f"INSERT INTO standby_probe VALUES ('{token}')", port=5000)
    bed.wait("the row on the standby cluster", lambda: bed.psql(
        f"SELECT token FROM standby_probe WHERE token = '{token}'", node="pg6", port=5432) == token,
        timeout=30)
    ok, by_id = bed.orchestrate("orch.promote_standby", {"cluster": "dr"})
    assert ok, by_id
    bed.wait("pg6 a primary", lambda: bed.psql("SELECT pg_is_in_recovery()", node="pg6",
                                               port=5432) == "False", timeout=60)
    bed.psql("INSERT INTO standby_probe VALUES ('written on dr')", node="pg6", port=5432)
    ok, by_id = bed.orchestrate("orch.promote_standby", {"cluster": "dr"})
    assert ok, by_id
