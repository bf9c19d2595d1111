"""The same deploy on bare Debian 12 hosts: PostgreSQL 15, etcd 3.4, PgBouncer 1.18 (no
auth_dbname), Patroni from a pinned venv, pgBackRest 2.45 with its repository on pg14, and
monitoring from Debian 12's packages with Prometheus on pg14. Also the dry run on bare
hosts."""

import pytest
from checks import (
    assert_etcd_healthy,
    assert_routing,
    assert_write_then_read_everywhere,
)
from conftest import changed_states
from prometheus import assert_targets_up, unexported_metrics

pytestmark = pytest.mark.e2e

MEMBERS = ["pg11", "pg12", "pg13"]
REPO = "pg14"
ADDRESSES = {"pg11": "10.77.0.21", "pg12": "10.77.0.22", "pg13": "10.77.0.23"}
PROMETHEUS = "http://10.77.0.24:9090"
# Debian 12 has no pgbouncer_exporter that the formula runs (salt/monitoring/defaults.yaml).
JOBS = {"node": [*MEMBERS, REPO], "postgres": MEMBERS, "patroni": MEMBERS, "etcd": MEMBERS,
        "haproxy": MEMBERS, "prometheus": [REPO], "alertmanager": [REPO]}


@pytest.fixture(scope="module")
def bookworm(bed):
    known = bed.status()
    hosts = [*MEMBERS, REPO]
    bed.tb("add", *[m for m in hosts if m not in known], "--os", "debian-12") \
        if set(hosts) - set(known) else None
    for node in set(hosts) & set(known):
        bed.tb("rebuild", node)  # the dry run needs bare hosts
    yield
    # The Debian 12 hosts are not needed by later tests; free their memory.
    for node in hosts:
        bed.tb("kill", node, check=False)


def test_dry_run_on_bare_hosts_changes_nothing(bed, bookworm):
    before = bed.salt("pg1[123]", "cmd.run", "dpkg -l | grep -c '^ii'", "python_shell=True")
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "bookworm"}, test=True)
    assert ok, by_id
    after = bed.salt("pg1[123]", "cmd.run", "dpkg -l | grep -c '^ii'", "python_shell=True")
    assert after == before
    for node in MEMBERS:
        assert bed.sh(node, "ls", "/etc", check=False).count("patroni") == 0
        assert "/opt/patroni" not in bed.sh(node, "ls", "-d", "/opt/patroni", check=False)


def test_deploy_on_debian_12(bed, bookworm):
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "bookworm"})
    assert ok, by_id
    versions = bed.salt("pg1[123]", "cmd.run",
                        "psql --version; pgbouncer --version | head -1; "
                        "/opt/patroni/bin/patroni --version", "python_shell=True")
    for out in versions.values():
        assert "15." in out and "PgBouncer 1.18" in out and "patroni 4.1.5" in out, out
    assert_etcd_healthy(bed, "pg12", 3)
    # Every host's certificate is from the operator's own CA (pillar tls:own_ca).
    for node, address in ADDRESSES.items():
        issuer = bed.sh("pg12", "sh", "-c", f"echo | openssl s_client -connect {address}:5432 "
                        "-starttls postgres 2>/dev/null | openssl x509 -noout -issuer")
        assert issuer.strip() == "issuer=CN = pgsalt bed enterprise CA", (node, issuer)
    assert_routing(bed, MEMBERS, ADDRESSES, "bookworm", "app")
    assert_write_then_read_everywhere(bed, MEMBERS, "bookworm")
    info = bed.salt(REPO, "pgsalt_backrest.info", "bookworm", "runas=postgres")[REPO]
    assert [b for b in info["backup"] if b["type"] == "full"], info
    assert bed.salt(REPO, "pgsalt_backrest.check", "bookworm", "runas=postgres")[REPO] is True
    assert "2.45" in bed.sh(REPO, "pgbackrest", "version")
    ok, again = bed.orchestrate("orch.deploy", {"cluster": "bookworm"})
    assert ok and changed_states(again) == []


def test_monitoring_on_debian_12(bed, bookworm):
    assert_targets_up(bed, PROMETHEUS, JOBS, "bookworm")
    missing = unexported_metrics(bed, PROMETHEUS)
    assert all(name.startswith("pgbouncer_") for name in missing), sorted(missing)
