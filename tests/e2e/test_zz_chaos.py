"""A representative part of the fault suite, run last in make test (make chaos runs it all,
for both timing profiles and both client paths): faults that fail over, one that must
not, an old primary that must rewind and a primary whose pg_wal fills up, while a client
writes through port 5000. PGSALT_CHAOS=all makes these tests make chaos's whole matrix."""

import os

import pytest
from checks import assert_archives_new_wal
from scenarios import matrix, run, set_profile

pytestmark = pytest.mark.e2e

SUBSET = [(name, "default", 5000) for name in (
    "primary-patroni-stop", "primary-power-loss", "old-primary-rewinds",
    "sync-standby-power-loss", "primary-wal-full")]
# Faults after which a member other than the victim leads.
FAILS_OVER = ("primary-", "old-primary-")


@pytest.fixture(scope="module", autouse=True)
def default_profile_after(bed, demo):
    yield
    set_profile(bed, "default")


@pytest.mark.parametrize("scenario,profile,port",
                         matrix() if os.environ.get("PGSALT_CHAOS") == "all" else SUBSET)
def test_a_fault_under_load_loses_no_acknowledged_write(bed, demo, scenario, profile, port):
    result = run(bed, scenario, profile, port)
    assert result["lost"] == [], result
    assert result["unexpected"] == [], result
    assert result["split_brain"] == [], result
    assert result["rto"] is not None, result
    if scenario.startswith(FAILS_OVER):
        assert result["new_leader"] != result["victim"], result
    # whoever leads now archives: no segment left over from the fault blocks the archiver
    assert_archives_new_wal(bed, result["new_leader"])
