"""A second cluster on a further host, with its own scope, using the demo cluster's etcd,
and its backups in a posix repository."""

import pytest
from checks import assert_one_leader_and_streaming_replicas, etcd_read, roles

pytestmark = pytest.mark.e2e

def test_second_cluster_uses_demo_etcd_and_leaves_demo_alone(bed, demo):
    demo_leader = assert_one_leader_and_streaming_replicas(bed, ["pg1", "pg2", "pg3"])
    started = bed.salt("pg[123]", "cmd.run", "systemctl show -p ActiveEnterTimestamp patroni")
    bed.tb("add", "pg5")
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "second"})
    assert ok, by_id
    assert roles(bed, "pg5") == {"pg5": ("primary", "running")} or \
        roles(bed, "pg5") == {"pg5": ("leader", "running")}
    assert bed.psql("SELECT current_database(), pg_is_in_recovery()", node="pg5", port=6432,
                    cluster="second") == "shop|False"
    # Its scope lives beside demo's in demo's etcd; pg5 runs no etcd of its own.
    for scope in ("demo", "second"):
        assert bed.salt("pg1", "pgsalt_etcd.key_count", f"/service/{scope}/leader") == {"pg1": 1}
    # Its Patroni's etcd login reads its own keys and none of demo's.
    url = "https://10.77.0.11:2379"
    assert int(etcd_read(bed, "pg5", url, "patroni", "/service/second/")) > 0
    assert "permission denied" in etcd_read(bed, "pg5", url, "patroni", "/service/demo/")
    assert bed.sh("pg5", "systemctl", "is-active", "etcd", check=False).strip() != "active"
    # Demo: same leader, no Patroni restarted.
    assert assert_one_leader_and_streaming_replicas(bed, ["pg1", "pg2", "pg3"]) == demo_leader
    assert bed.salt("pg[123]", "cmd.run",
                    "systemctl show -p ActiveEnterTimestamp patroni") == started


def test_posix_repository_backs_up_on_the_primary(bed, demo):
    stanza = bed.salt("pg5", "pgsalt_backrest.info", "second", "runas=postgres")["pg5"]
    assert [b for b in stanza["backup"] if b["type"] == "full"], stanza
    assert bed.salt("pg5", "pgsalt_backrest.check", "second", "runas=postgres")["pg5"] is True
    assert bed.sh("pg5", "systemctl", "is-active", "pgsalt-backup-full.timer").strip() == "active"
    # The timer's unit runs the backup on the primary only (ExecCondition).
    bed.sh("pg5", "systemctl", "start", "pgsalt-backup@incr.service")
    newest = bed.salt("pg5", "pgsalt_backrest.info", "second", "runas=postgres")["pg5"]
    assert newest["backup"][-1]["type"] == "incr", newest["backup"][-1]
    assert bed.sh("pg5", "systemctl", "is-active", "pgbackrest", check=False).strip() != "active"
