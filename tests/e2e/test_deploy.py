"""orch.deploy on three bare Debian 13 hosts: an HA cluster that routes, replicates and is
idempotent."""

import json
import time

import psycopg
import pytest
from checks import (
    assert_etcd_healthy,
    assert_one_leader_and_streaming_replicas,
    assert_routing,
    assert_write_then_read_everywhere,
    local_sql,
    roles,
)
from conftest import changed_states, failures

pytestmark = pytest.mark.e2e

MEMBERS = ["pg1", "pg2", "pg3"]
ADDRESSES = {"pg1": "10.77.0.11", "pg2": "10.77.0.12", "pg3": "10.77.0.13"}
APP_PASSWORD = "demo-app-password-W8fD3kQs"


def test_deploy_builds_the_cluster_in_order(demo):
    order = sorted(demo.values(), key=lambda r: r["__run_num__"])
    ids = [r["__id__"] for r in order]
    assert ids[:3] == ["pgsalt-deploy-sync", "pgsalt-deploy-tls-certificates",
                       "pgsalt-deploy-prepare"]
    assert ids[3:6] == [f"pgsalt-deploy-patroni-{m}" for m in MEMBERS]
    assert ids[6:] == ["pgsalt-deploy-sql-objects", "pgsalt-deploy-serve"]


def test_one_leader_two_streaming_replicas_and_healthy_etcd(bed, demo):
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)
    assert_etcd_healthy(bed, "pg2", 3)
    versions = bed.salt("pg[1-3]", "cmd.run", "psql --version")
    assert all("17." in v for v in versions.values()), versions


def test_every_entry_point_routes_by_role(bed, demo):
    assert_routing(bed, MEMBERS, ADDRESSES, "demo", "app")


def test_a_write_through_5000_reads_back_through_5001_everywhere(bed, demo):
    assert_write_then_read_everywhere(bed, MEMBERS, "demo")


def test_rerun_changes_nothing_and_highstate_has_nothing_to_do(bed, demo):
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo"})
    assert ok
    assert changed_states(by_id) == []
    certificates = by_id.pop("pgsalt-deploy-tls-certificates")["changes"]["return"]["minions"]
    assert all(says.startswith("current until") for says in certificates.values()), certificates
    assert all(not r.get("changes") for r in by_id.values()), json.dumps(by_id)[-3000:]
    dry = bed.salt("pg*", "state.highstate", "test=True")
    for minion, states in dry.items():
        pending = {k: v for k, v in states.items() if v["result"] is not True or v["changes"]}
        assert pending == {}, (minion, pending)


def test_secrets_stay_out_of_state_returns(bed, demo):
    ret = json.dumps(bed.salt("pg1", "state.apply", "patroni.config,pgbouncer.config",
                              "test=True"))
    for secret in (APP_PASSWORD, "demo-superuser-7Hq2xLp9", "demo-pgbouncer-Ju5nB2eX"):
        assert secret not in ret
    modes = bed.sh("pg1", "stat", "-c", "%a %U %n", "/etc/patroni/config.yml",
                   "/etc/pgbouncer/userlist.txt")
    assert modes.split("\n")[:2] == ["600 postgres /etc/patroni/config.yml",
                                     "600 postgres /etc/pgbouncer/userlist.txt"]


# A copy of the member's config, changed by PYTHON (config is the parsed file), checked by the
# validator the config state runs: prints its exit code, then what it said. The copy holds
# the passwords: 0600, and gone afterwards (test_security scans every host's files).
CHECK_A_COPY = """
import os, subprocess, yaml
config = yaml.safe_load(open('/etc/patroni/config.yml'))
{change}
path = '/root/pgsalt-config-copy.yml'
try:
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 'w') as f:
        yaml.safe_dump(config, f)
    run = subprocess.run(['/usr/local/sbin/pgsalt-patroni-validate', '/usr/bin/patroni', path],
                         capture_output=True, text=True)
finally:
    os.unlink(path)
print(run.returncode, run.stderr)
"""


def test_patroni_config_check_fails_on_the_file_not_on_an_etcd_member_down(bed, demo):
    def check(change):
        return bed.sh("pg1", "python3", "-c", CHECK_A_COPY.format(change=change)).strip()

    # an etcd member that does not answer (nothing listens on 127.0.0.1:9): the file is fine
    assert check("config['etcd3']['hosts'].insert(0, '127.0.0.1:9')") == "0"
    verdict = check("config['postgresql']['bin_dir'] = '/usr/lib/postgresql/0/bin'")
    assert verdict.startswith("1 postgresql.") and "/usr/lib/postgresql/0/bin" in verdict, \
        verdict
    left = bed.sh("pg1", "sh", "-c", "ls /root/pgsalt-config-copy.yml 2>/dev/null || true")
    assert left.strip() == "", "the copy of the config is left behind"


def test_pooled_client_keeps_its_connection_through_a_switchover(bed, demo):
    leader = assert_one_leader_and_streaming_replicas(bed, MEMBERS)
    conn = psycopg.connect(host=ADDRESSES["pg2"], port=6432, dbname="app", user="app",
                           password=APP_PASSWORD, autocommit=True, connect_timeout=5)
    with conn:
        assert str(conn.execute("SELECT inet_server_addr()").fetchone()[0]) == ADDRESSES[leader]
        # With synchronous_mode on, Patroni switches over to the sync standby only.
        view = roles(bed, leader)
        candidate = next(n for n, (role, _) in view.items() if role == "sync_standby")
        result = bed.salt(leader, "pgsalt_patroni.switchover", f"candidate={candidate}")
        assert result[leader]["result"] is True, result

        def routed():
            return bed.psql("SELECT inet_server_addr()", node="pg2", port=5000) == \
                ADDRESSES[candidate]
        bed.wait("HAProxy routes to the new leader", routed, timeout=60)
        time.sleep(1)
        row = conn.execute("SELECT inet_server_addr(), pg_is_in_recovery()").fetchone()
        assert (str(row[0]), row[1]) == (ADDRESSES[candidate], False)
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)


def _hba_addresses(bed, node):
    return local_sql(bed, node, "SELECT address FROM pg_hba_file_rules "
                     "WHERE address IS NOT NULL").split()


def _started(bed):
    return {n: local_sql(bed, n, "SELECT pg_postmaster_start_time()") for n in MEMBERS}


def test_a_rerun_applies_a_changed_patroni_config_without_a_restart(bed, demo):
    """orch.deploy writes Patroni's config a step before Patroni's own: a running member
    must still reload it (here a pg_hba line from pillar) and restart nothing."""
    started = _started(bed)
    rule = "host all all 192.0.2.7/32 reject"
    bed.override_pillar({"pgsalt": {"clusters": {"demo": {"postgresql": {"pg_hba": [rule]}}}}})
    try:
        ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo"})
        assert ok, failures(by_id)
        for node in MEMBERS:
            bed.wait(f"{node}'s pg_hba with the new line",
                     lambda n=node: "192.0.2.7" in _hba_addresses(bed, n), timeout=30)
    finally:
        bed.override_pillar(None)
        ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo"})
    assert ok, failures(by_id)
    for node in MEMBERS:
        bed.wait(f"{node}'s pg_hba without it",
                 lambda n=node: "192.0.2.7" not in _hba_addresses(bed, n), timeout=30)
    assert _started(bed) == started
    assert_one_leader_and_streaming_replicas(bed, MEMBERS)
