"""Checks a deployed cluster must pass, shared by the Debian 13 and Debian 12 deploy tests."""

import uuid


def roles(bed, member):
    """Patroni's view of the cluster, asked on MEMBER: {name: (role, state, lag/streaming)}."""
    cluster = bed.salt(member, "pgsalt_patroni.cluster")[member]
    return {m["name"]: (m["role"], m["state"]) for m in cluster["members"]}


def leader_and_streaming_replicas(bed, members):
    view = roles(bed, members[0])
    leaders = [n for n, (role, _) in view.items() if role in ("leader", "primary", "master")]
    replicas = sorted(n for n, (role, state) in view.items()
                      if role in ("replica", "sync_standby", "quorum_standby")
                      and state == "streaming")
    return leaders, replicas


def assert_one_leader_and_streaming_replicas(bed, members):
    leaders, replicas = bed.wait(
        "one leader and streaming replicas",
        lambda: (lambda lr: lr if len(lr[0]) == 1 and len(lr[1]) == len(members) - 1 else None)(
            leader_and_streaming_replicas(bed, members)),
        timeout=90)
    assert sorted(leaders + replicas) == sorted(members)
    return leaders[0]


def assert_routing(bed, members, addresses, cluster, db):
    """Every balancer: 5000 and db via 6432 reach the leader; 5001 and db_ro a replica."""
    leader = assert_one_leader_and_streaming_replicas(bed, members)
    for node in members:
        rw = bed.psql("SELECT inet_server_addr(), pg_is_in_recovery()", node=node, port=5000,
                      cluster=cluster)
        assert rw == f"{addresses[leader]}|False", (node, rw)
        ro = bed.psql("SELECT pg_is_in_recovery()", node=node, port=5001, cluster=cluster)
        assert ro == "True", (node, ro)
        pooled = bed.psql("SELECT inet_server_addr(), pg_is_in_recovery()", node=node,
                          port=6432, db=db, cluster=cluster)
        assert pooled == f"{addresses[leader]}|False", (node, pooled)
        pooled_ro = bed.psql("SELECT pg_is_in_recovery()", node=node, port=6432,
                             db=f"{db}_ro", cluster=cluster)
        assert pooled_ro == "True", (node, pooled_ro)
    return leader


def assert_write_then_read_everywhere(bed, members, cluster):
    token = uuid.uuid4().hex
    bed.psql("CREATE TABLE IF NOT EXISTS e2e_rw (token text PRIMARY KEY)", port=5000,
             node=members[0], cluster=cluster)
    bed.psql(f"INSERT INTO e2e_rw VALUES ('{token}')", port=5000, node=members[0],
             cluster=cluster)
    for node in members:
        bed.wait(f"the row read through {node}:5001",
                 lambda node=node: bed.psql(f"SELECT token FROM e2e_rw WHERE token = '{token}'",
                                            node=node, port=5001, cluster=cluster) == token,
                 timeout=30)


def assert_etcd_healthy(bed, member, count):
    health = bed.salt(member, "pgsalt_etcd.health")[member]
    assert health["healthy"] is True, health
    assert health["members"] == count, health


def local_sql(bed, node, statement):
    """STATEMENT on NODE as the superuser, over the socket (root maps to postgres)."""
    return bed.sh(node, "psql", "-U", "postgres", "-XAtqc", statement).strip()


def assert_archives_new_wal(bed, node, timeout=60):
    """NODE, the primary, archives a segment it ends now (archiving has not stalled);
    returns the segment's name."""
    # a switch without WAL since the last one switches nothing
    segment = local_sql(bed, node, "SELECT pg_walfile_name(pg_logical_emit_message("
                        "false, 'pgsalt', 'switch'))")
    local_sql(bed, node, "SELECT pg_switch_wal()")
    bed.wait(f"{node} to archive {segment}", lambda: local_sql(
        bed, node, "SELECT last_archived_wal FROM pg_stat_archiver")[:24] >= segment,
        timeout=timeout)
    return segment


# One read through etcd's JSON gateway (what Patroni speaks), from a host with the cluster
# CA's CN-less etcd certificate: as the login in the host's Patroni config ("patroni"), or
# with none ("none"). Prints the number of keys under the prefix, or etcd's refusal. The
# password is read on the host, never passed on a command line.
ETCD_READ = """
import base64, json, ssl, sys, urllib.request as u, yaml
url, login, prefix = sys.argv[1:4]
tls = ssl.create_default_context(cafile="/etc/pgsalt/tls/ca.crt")
tls.load_cert_chain("/etc/pgsalt/tls/etcd.crt", "/etc/pgsalt/tls/host.key")
def call(path, body, token=None):
    req = u.Request(url + path, json.dumps(body).encode())
    if token:
        req.add_header("Authorization", token)
    try:
        return json.load(u.urlopen(req, timeout=5, context=tls))
    except u.HTTPError as e:
        return json.load(e)
token = None
if login == "patroni":
    etcd = yaml.safe_load(open("/etc/patroni/config.yml"))["etcd3"]
    token = call("/v3/auth/authenticate",
                 {"name": etcd["username"], "password": etcd["password"]})["token"]
b64 = lambda text: base64.b64encode(text.encode()).decode()
end = prefix[:-1] + chr(ord(prefix[-1]) + 1)
got = call("/v3/kv/range", {"key": b64(prefix), "range_end": b64(end), "count_only": True}, token)
print(got.get("message") or got.get("error") or got.get("count", 0))
"""


def etcd_read(bed, node, url, login, prefix):
    """How many keys NODE reads under PREFIX through etcd's gateway at URL as LOGIN
    ("patroni" or "none"), or etcd's refusal as text."""
    return bed.sh(node, "python3", "-c", ETCD_READ, url, login, prefix).strip()
