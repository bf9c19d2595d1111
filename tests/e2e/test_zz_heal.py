"""Self-healing on the deployed demo cluster: faults that nobody repairs by hand. The
reactor (reactor/pgsalt.conf, included by the bed's master) starts orch.heal on beacon and
drift events and orch.enroll when a member's minion starts; every test waits for the
repair's event pgsalt/heal/demo/MINION/OUTCOME and checks the cluster afterwards.

heal:enabled is on only inside these tests (``healing``); they run last."""

import json
from datetime import datetime

import healing as h
import pytest
from checks import assert_one_leader_and_streaming_replicas
from test_monitoring import query

pytestmark = pytest.mark.e2e

DB = h.DB


def _print(what, result):
    print(f"heal {what}: mttr {result['mttr']} s; {json.dumps(result['event'])}")


def test_with_heal_off_nothing_reacts(bed, demo):
    ok, by_id = bed.orchestrate("orch.enroll", {"minion": "pg1"})
    assert ok and by_id["pgsalt-enroll-nothing-to-do"]["name"] == \
        "pg1: heal:enabled is off for demo", by_id
    ok, by_id = bed.orchestrate("orch.heal", {"minion": "pg9"})
    assert ok and "pgsalt-heal-not-a-member" in by_id, by_id


def test_stopped_patroni_and_unstartable_replica_are_repaired(bed, demo):
    with h.healing(bed):
        host = h.a_replica(bed)
        ok, by_id = bed.orchestrate("orch.heal", {"minion": host}, test=True)
        assert ok and by_id[f"pgsalt-heal-{host}"]["comment"] == f"{host}: nothing to repair"
        result = h.stopped_patroni(bed, host)
        _print("stopped patroni", result)
        assert result["event"]["found"]["inactive"] == ["patroni"]
        assert_one_leader_and_streaming_replicas(bed, DB)

        host = h.a_replica(bed)
        result = h.unstartable_replica(bed, host)
        _print("unstartable replica", result)
        assert result["event"]["found"]["member"]["state"] in ("start failed", "crashed",
                                                                "stopped")
        assert_one_leader_and_streaming_replicas(bed, DB)

        result = h.removed_data_directory(bed, h.a_replica(bed))
        _print("removed data directory", result)


def test_two_faults_at_once_are_healed_once_each_without_overlap(bed, demo):
    with h.healing(bed):
        leader = assert_one_leader_and_streaming_replicas(bed, DB)
        replicas = [m for m in DB if m != leader]
        with h.Events("pgsalt/heal/*") as events:
            for host in replicas:
                bed.tb("salt", host, "cmd.run", "systemctl stop patroni", "--async")
            for host in replicas:
                events.wait(h.outcome(host, "repaired", action="start patroni"), 300)
            assert_one_leader_and_streaming_replicas(bed, DB)
        reports = [data for _, data in events.seen]
        repaired = [r for r in reports if r["outcome"] == "repaired"]
        assert sorted(r["minion"] for r in repaired) == sorted(replicas), reports
        assert not [r for r in reports if r["outcome"] == "failed"], reports
        # One repair at a time: each report's run (its end minus its length, after the
        # lock wait) ends before the next one starts.
        runs = sorted((_end(r) - r["seconds"] + r["waited"], _end(r)) for r in reports)
        for (_, end), (start, _) in zip(runs, runs[1:], strict=False):
            assert start >= end - 0.5, runs


def _end(report):
    return datetime.fromisoformat(report["_stamp"]).timestamp()


def test_drift_is_reported_then_repaired_when_pillar_allows(bed, demo):
    host = "pg1"
    cfg = "/etc/haproxy/haproxy.cfg"
    with h.healing(bed, drift_interval=1):
        schedule = bed.salt(host, "schedule.list", "return_yaml=False")[host]
        assert schedule["pgsalt-drift"]["function"] == "pgsalt_drift.check"
        result = h.hand_edited_haproxy(bed, host)
        _print("drift reported", result)
        assert "haproxy-config-file" in json.dumps(result["events"])
        assert "# hand edit" in bed.sh(host, "cat", cfg)
        # With monitoring on (pg4), the drift is a metric too.
        bed.wait("drift in Prometheus", lambda: [
            r for r in query(f'pgsalt_drift_states{{instance="{host}"}} > 0')], timeout=90,
            interval=5)
        h.heal_pillar(bed, drift_interval=1, drift_repair=True)
        with h.Events("pgsalt/heal/*") as events:
            _, data = events.wait(h.outcome(host, "repaired", reason="pgsalt/drift/"), 200)
        print(f"heal drift repaired: {json.dumps(data)}")
        assert f"apply {host}" in data["actions"]
        assert "# hand edit" not in bed.sh(host, "cat", cfg)


def test_a_rebuilt_host_rejoins_etcd_and_patroni_by_itself(bed, demo):
    with h.healing(bed):
        host = h.a_replica(bed)
        old_id = _etcd_id(bed, host)
        result = h.rebuilt_host(bed, host)
        _print("rebuilt host", result)
        assert result["event"]["outcome"] == "enrolled", result
        assert_one_leader_and_streaming_replicas(bed, DB)
        members = bed.salt(host, "pgsalt_etcd.members")[host]
        assert len(members) == 3 and all(m["name"] for m in members), members
        assert next(m["id"] for m in members if m["name"] == host) != old_id
        assert bed.salt(host, "pgsalt_etcd.health")[host]["healthy"] is True


def test_an_etcd_member_that_lost_its_data_is_replaced(bed, demo):
    with h.healing(bed):
        host = h.a_replica(bed)
        old_id = _etcd_id(bed, host)
        result = h.lost_etcd_data(bed, host)
        _print("lost etcd data", result)
        assert result["event"]["actions"] == ["start etcd", "replace etcd"], result
        health = bed.salt(host, "pgsalt_etcd.health")[host]
        assert health["healthy"] is True and health["members"] == 3, health
        assert _etcd_id(bed, host) != old_id
        assert_one_leader_and_streaming_replicas(bed, DB)


def _etcd_id(bed, host):
    other = "pg1" if host != "pg1" else "pg2"
    return next(m["id"] for m in bed.salt(other, "pgsalt_etcd.members")[other]
                if m["name"] == host)


def test_a_new_host_in_pillar_joins_by_itself(bed, demo):
    new = {"pg8": {"roles": ["db"]}}
    with h.healing(bed):
        # Listed only now: a member without an address in the mine stops every render.
        h.heal_pillar(bed, members=new)
        result = h.new_host(bed, "pg8")
        _print("new host", result)
        assert result["event"]["outcome"] == "enrolled", result
        assert_one_leader_and_streaming_replicas(bed, DB + ["pg8"])
        assert "pg8" in bed.salt("pg1", "pgsalt_haproxy.servers")["pg1"]
        # Taken out again: off the pillar first, then orch.remove_node.
        h.heal_pillar(bed)
        ok, by_id = bed.orchestrate("orch.remove_node", {"cluster": "demo", "node": "pg8"})
        assert ok, by_id
    bed.tb("kill", "pg8")  # its services are stopped already; the host only costs memory
    assert_one_leader_and_streaming_replicas(bed, DB)
