"""A representative part of the fault suite, run last in make test (make chaos runs it all,
for both timing profiles and both client paths): faults that fail over, one that must
not, and an old primary that must rewind, while a client writes through port 5000."""

import pytest
from scenarios import run

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("scenario", ["primary-patroni-stop", "primary-power-loss",
                                      "old-primary-rewinds", "sync-standby-power-loss"])
def test_a_fault_under_load_loses_no_acknowledged_write(bed, demo, scenario):
    result = run(bed, scenario, "default", 5000)
    assert result["lost"] == [], result
    assert result["unexpected"] == [], result
    assert result["split_brain"] == [], result
    assert result["rto"] is not None, result
    if scenario.startswith(("primary", "old-primary")):
        assert result["new_leader"] != result["victim"], result
