"""A representative part of the fault suite, run last in make test (make chaos runs it all):
the primary dies, or its Patroni stops, while a client writes through port 5000."""

import pytest
from bed.cli import app_login
from scenarios import run

pytestmark = pytest.mark.e2e

ADDRESSES = {"pg1": "10.77.0.11", "pg2": "10.77.0.12", "pg3": "10.77.0.13"}


def conninfo(host, port):
    user, password, db = app_login("demo")
    return f"host={ADDRESSES[host]} port={port} dbname={db} user={user} password={password}"


@pytest.mark.parametrize("scenario", ["primary-patroni-stop", "primary-power-loss"])
def test_failover_under_load_loses_no_acknowledged_write(bed, demo, scenario):
    result = run(bed, scenario, "default", 5000, conninfo)
    assert result["lost"] == [], result
    assert result["unexpected"] == [], result
    assert result["split_brain"] == [], result
    assert result["rto"] is not None, result
    assert result["new_leader"] != result["victim"], result
