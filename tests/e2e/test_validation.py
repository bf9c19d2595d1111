"""A refused pillar stops orch.deploy while it renders: no step runs, no host changes."""

import pytest
from bed import master

pytestmark = pytest.mark.e2e


def demo(**overrides):
    return {"cluster": "demo", "pgsalt": {"clusters": {"demo": overrides}}}


CASES = {
    "even dcs count": (demo(members={"pg3": {"roles": ["db", "balancer"]}}),
                       "demo:members: 2 members with role dcs"),
    "unknown minion": (demo(members={"pg9": {"roles": ["db"]}}),
                       "members:pg9: not a known minion"),
    "no db member": (demo(members={m: {"roles": ["dcs", "balancer"]}
                                   for m in ("pg1", "pg2", "pg3")}), "no member has role db"),
    "port clash": (demo(haproxy={"rw_port": 5432}), "5432"),
    "short password": (demo(users={"replication": {"password": "short"}}),
                       "users:replication:password: shorter than 16"),
    "pools above max_connections": (demo(pgbouncer={"max_db_connections": 500}),
                                    "max_connections"),
    "unknown timing profile": (demo(patroni={"timing": "turbo"}), "patroni:timing"),
    "ttl too short": (demo(patroni={"profiles": {"default": {"ttl": 25}}}), "ttl"),
    "bad version": (demo(postgresql={"version": 9}), "postgresql:version"),
    "typo in a key": (demo(pgbouncr={"pool_mode": "session"}), "pgbouncr"),
    "bad pool mode": (demo(pgbouncer={"pool_mode": "sometimes"}), "pool_mode"),
    "member of two clusters": (
        {"cluster": "demo", "pgsalt": {"clusters": {"second": {"members": {
            "pg1": {"roles": ["db"]}}}}}}, "pg1"),
    "unknown dcs cluster": (
        {"cluster": "second", "pgsalt": {"clusters": {"second": {"dcs": {
            "cluster": "nosuch"}}}}}, "dcs:cluster"),
    "several clusters, none named": ({}, "no cluster name given"),
    "no repository host": (demo(members={"pg4": {"roles": ["monitor"]}}),
                           "have role backup (none)"),
    "cipher without passphrase": (demo(pgbackrest={"passphrase": None}),
                                  "pgbackrest:passphrase: missing"),
    "schedule that does not parse": (demo(pgbackrest={"schedule": {"full": "Sun 25:00"}}),
                                     "pgbackrest:schedule:full: 'Sun 25:00' does not parse"),
    "retention of 0": (demo(pgbackrest={"retention": {"full": 0}}),
                       "pgbackrest:retention:full: 0 keeps nothing"),
    "placeholder password": (demo(users={"rest_api": {"password": "CHANGE-ME-rest-api-pw"}}),
                             "users:rest_api:password: a published default or placeholder"),
    "TLS off outside a lab": (demo(tls={"enabled": False}),
                              "tls:enabled: false sends passwords and data in plain text"),
    "own CA with another key": (
        demo(tls={"own_ca": {"cert": str(master.OWN_CA / "ca.crt"),
                             "key": str(master.PKI / "pgsalt" / "demo" / "ca.key")}}),
        "tls:own_ca:key:"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_refused_before_any_host_changes(bed, case):
    pillar, expected = CASES[case]
    ok, by_id = bed.orchestrate("orch.deploy", pillar)
    assert not ok
    assert list(by_id) == ["pgsalt-deploy-pillar-refused"], list(by_id)
    comment = by_id["pgsalt-deploy-pillar-refused"]["comment"]
    assert "no host was touched" in comment
    assert expected in comment, comment
