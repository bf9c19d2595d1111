"""The fault suite's checker: lost, unexpected, split-brain and RTO from known histories."""

import pytest
from checker import check, rto, split_brain
from load import Attempt

pytestmark = pytest.mark.unit


def ack(i, t, addr="10.0.0.1", tl="00000001"):
    return Attempt(f"id{i}", t - 0.01, t, "ack", addr, tl)


def test_a_clean_failover_loses_nothing():
    attempts = [ack(1, 10), ack(2, 11), Attempt("id3", 11.5, 12, "failed"),
                Attempt("id4", 12.5, 13, "indeterminate"),
                ack(5, 40, "10.0.0.2", "00000002"), ack(6, 41, "10.0.0.2", "00000002")]
    rows = {f"id{i}": () for i in (1, 2, 5, 6)}
    result = check(attempts, rows, fault_at=11.2)
    assert result["lost"] == [] and result["unexpected"] == [] and result["split_brain"] == []
    assert result["rto"] == pytest.approx(29.0)
    assert (result["acked"], result["failed"], result["indeterminate"]) == (4, 1, 1)


def test_an_indeterminate_write_may_or_may_not_be_there():
    attempts = [ack(1, 10), Attempt("id2", 11, 12, "indeterminate")]
    assert check(attempts, {"id1": (), "id2": ()}, 10.5)["unexpected"] == []


def test_acknowledged_but_missing_is_lost_and_unknown_rows_are_unexpected():
    attempts = [ack(1, 10), ack(2, 11)]
    result = check(attempts, {"id1": (), "stranger": ()}, 10.5)
    assert result["lost"] == ["id2"]
    assert result["unexpected"] == ["stranger"]


def test_an_old_leader_acknowledging_after_the_new_one_is_split_brain():
    new = ack(2, 20, "10.0.0.2", "00000002")
    late_old = ack(3, 21, "10.0.0.1", "00000001")
    assert len(split_brain([ack(1, 10), new, late_old])) == 1
    assert split_brain([ack(1, 10), new]) == []


def test_two_servers_on_one_timeline_at_once_is_split_brain():
    a = Attempt("a", 10.0, 10.5, "ack", "10.0.0.1", "00000001")
    b = Attempt("b", 10.2, 10.4, "ack", "10.0.0.2", "00000001")
    assert split_brain([a, b])


def test_rto_without_recovery_is_none():
    assert rto([ack(1, 10)], fault_at=10.5) is None
    assert rto([ack(1, 12)], fault_at=10.5) == pytest.approx(1.5)


def test_writes_acknowledged_before_the_injection_took_effect_do_not_hide_the_outage():
    still_served = [ack(i, 10.5 + i / 20) for i in range(1, 6)]  # the kill lands at 10.75
    recovered = ack(9, 40, "10.0.0.2", "00000002")
    assert rto([ack(0, 10), *still_served, recovered], fault_at=10.5) == pytest.approx(29.25)
