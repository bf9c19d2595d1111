"""A second cluster on a further host, with its own scope, using the demo cluster's etcd,
and its backups in a posix repository."""

import pytest
from checks import assert_one_leader_and_streaming_replicas, roles

pytestmark = pytest.mark.e2e

# The keys under /service/ in the local etcd, through its JSON gateway; etcd asks for the
# host's certificate from the cluster CA.
ETCD_KEYS = """
import base64, json, ssl, urllib.request
tls = ssl.create_default_context(cafile="/etc/pgsalt/tls/ca.crt")
tls.load_cert_chain("/etc/pgsalt/tls/host.crt", "/etc/pgsalt/tls/host.key")
body = {"key": base64.b64encode(b"/service/").decode(),
        "range_end": base64.b64encode(b"/service0").decode(), "keys_only": True}
req = urllib.request.Request("https://127.0.0.1:2379/v3/kv/range", json.dumps(body).encode())
for kv in json.load(urllib.request.urlopen(req, timeout=5, context=tls)).get("kvs", []):
    print(base64.b64decode(kv["key"]).decode())
"""


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
    keys = bed.sh("pg1", "python3", "-c", ETCD_KEYS)
    assert "/service/demo/leader" in keys and "/service/second/leader" in keys, keys
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
