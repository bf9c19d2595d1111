"""The demo cluster's VIP: one address over the three HAProxy balancers (keepalived)."""

import subprocess
import time

import pytest
from bed.cli import vip_address
from bed.client import TB
from checks import assert_one_leader_and_streaming_replicas
from scenarios import vip_holder

pytestmark = pytest.mark.e2e

MEMBERS = ["pg1", "pg2", "pg3"]


def holder(bed):
    return bed.wait("one balancer holding the VIP", lambda: vip_holder(bed), timeout=30,
                    interval=0.2)


def write_through_vip(bed):
    bed.tb("psql", "--vip", "--port", "5000", "--db", "app", "-c",
           "CREATE TABLE IF NOT EXISTS vip_writes (at timestamptz DEFAULT now());"
           "INSERT INTO vip_writes DEFAULT VALUES")


def stays(bed, where, seconds=8):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert vip_holder(bed) == where, "the VIP moved back"
        time.sleep(1)


def test_writes_through_the_vip(bed, demo):
    holder(bed)
    write_through_vip(bed)
    assert bed.sh("pg1", "stat", "-c", "%a %U", "/etc/keepalived/keepalived.conf") == "640 root\n"


def test_vip_leaves_a_host_whose_haproxy_stopped_and_does_not_flap_back(bed, demo):
    first = holder(bed)
    # The notify hook reports the move on the master's event bus.
    events = subprocess.Popen([str(TB), "salt-run", "state.event", "pgsalt/vip/demo/master",
                               "count=1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    time.sleep(2)
    bed.sh(first, "systemctl", "stop", "haproxy")
    try:
        second = bed.wait("the VIP on another balancer",
                          lambda: (lambda h: h not in (None, first) and h)(vip_holder(bed)),
                          timeout=15, interval=0.2)
        write_through_vip(bed)
        out, _ = events.communicate(timeout=30)
        assert "pgsalt/vip/demo/master" in out and second in out, out
    finally:
        events.kill()
        bed.sh(first, "systemctl", "start", "haproxy")
    stays(bed, second)


def test_vip_survives_the_power_loss_of_its_holder(bed, demo):
    first = holder(bed)
    bed.tb("kill", first)
    try:
        bed.wait("the VIP on another balancer",
                 lambda: (lambda h: h not in (None, first) and h)(vip_holder(bed)),
                 timeout=20, interval=0.2)
        bed.wait("a write through the VIP", lambda: write_through_vip(bed) or True, timeout=90)
    finally:
        bed.tb("start", first)
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)
    assert vip_holder(bed) != first


def test_vip_pillar_is_checked(bed, demo):
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo", "pgsalt": {"clusters": {
        "demo": {"vip": {"address": "10.78.0.250"}}}}})
    assert not ok
    assert "vip:address" in by_id["pgsalt-deploy-pillar-refused"]["comment"]
    assert vip_address("demo") == "10.77.0.250"
