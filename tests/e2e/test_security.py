"""Security by default on the demo cluster: TLS on every network port and plain text refused,
no trust in pg_hba, Patroni's unsafe endpoints and HAProxy's stats behind passwords, the
pillar's secrets nowhere they must not be, and certificate renewal without downtime."""

import datetime
import pathlib
import threading
import time

import psycopg
import pytest
import yaml
from bed import master
from checks import assert_one_leader_and_streaming_replicas, etcd_read
from conftest import failures

pytestmark = pytest.mark.e2e

MEMBERS = ["pg1", "pg2", "pg3"]
HOSTS = MEMBERS + ["pg4"]
ADDRESSES = {"pg1": "10.77.0.11", "pg2": "10.77.0.12", "pg3": "10.77.0.13", "pg4": "10.77.0.14"}
CA = "/etc/pgsalt/tls/ca.crt"
DEMO = yaml.safe_load((pathlib.Path(__file__).parents[2] / "pillar/pgsalt/demo.sls").read_text())
SETTINGS = DEMO["pgsalt"]["clusters"]["demo"]
SECRETS = sorted(
    [spec["password"] for spec in SETTINGS["users"].values()]
    + [spec["password"] for spec in SETTINGS["roles"].values()]
    + [SETTINGS["pgbackrest"]["passphrase"], SETTINGS["vip"]["password"]])
APP_PASSWORD = SETTINGS["roles"]["app"]["password"]
# pg4's own certificate, for the ports that ask for one (etcd's).
CLIENT = "-cert /etc/pgsalt/tls/host.crt -key /etc/pgsalt/tls/host.key"
# (port, openssl s_client options): PostgreSQL, HAProxy's two ports (PostgreSQL's TLS
# passes through), PgBouncer, Patroni's REST API, and etcd's client and peer ports.
TLS_PORTS = [(5432, "-starttls postgres"), (5000, "-starttls postgres"),
             (5001, "-starttls postgres"), (6432, "-starttls postgres"), (8008, ""),
             (2379, CLIENT), (2380, CLIENT)]
# etcd's JSON gateway, asked from pg4 for the members; a client certificate is optional
# (pg4's CN-less one: with etcd's auth on, the gateway refuses a certificate with a CN).
ETCD_MEMBERS = """
import json, ssl, sys, urllib.request as u
tls = ssl.create_default_context(cafile="/etc/pgsalt/tls/ca.crt")
if sys.argv[2] == "cert":
    tls.load_cert_chain("/etc/pgsalt/tls/etcd.crt", "/etc/pgsalt/tls/host.key")
try:
    r = u.urlopen(u.Request(sys.argv[1] + "/v3/cluster/member/list", b"{}"), timeout=5, context=tls)
    print(len(json.load(r)["members"]))
except Exception as e:
    print(type(e).__name__)
"""


def served_certificate(bed, address, port, starttls="", attempts=3):
    """The certificate a port serves, checked against the cluster CA from pg4:
    {"protocol", "verify", "serial", "not_after", "output"}. A handshake cut short (seen
    once on a loaded bed: the server's certificate and no verdict) is tried again."""
    for attempt in range(attempts):
        out = bed.sh("pg4", "sh", "-c",
                     f"out=$(echo | openssl s_client -connect {address}:{port} {starttls} "
                     f"-CAfile {CA} -verify_return_error 2>&1); echo \"$out\" | grep -E "
                     "'^ *(Protocol|Verify return code) *:|error|errno'; echo \"$out\" | "
                     "openssl x509 -noout -serial -enddate", check=False)
        found = {}
        for line in out.splitlines():
            key, sep, value = line.replace("=", ":", 1).partition(":")
            if sep:
                found[key.strip().lower().replace(" ", "_")] = value.strip()
        if found.get("verify_return_code") or attempt == attempts - 1:
            break
        time.sleep(2)
    return {"protocol": found.get("protocol"), "verify": found.get("verify_return_code"),
            "serial": found.get("serial"), "not_after": found.get("notafter"), "output": out}


def http(bed, node, method, url, auth=None):
    """The status of one request from NODE (-1 when no HTTP answer came)."""
    script = (
        "import base64, ssl, sys, urllib.request as u\n"
        f"m = {method!r}\n"
        f"r = u.Request({url!r}, method=m, data=None if m == 'GET' else b'{{}}')\n"
        f"a = {auth!r}\n"
        "if a: r.add_header('Authorization', 'Basic ' + base64.b64encode(a.encode()).decode())\n"
        f"ctx = ssl.create_default_context(cafile={CA!r})\n"
        "try: print(u.urlopen(r, context=ctx, timeout=10).status)\n"
        "except u.HTTPError as e: print(e.code)\n"
        "except Exception as e: print(-1)\n")
    return int(bed.sh(node, "python3", "-c", script).strip())


def test_every_port_speaks_tls_with_the_cluster_ca(bed, demo):
    for node in MEMBERS:
        for port, starttls in TLS_PORTS:
            got = served_certificate(bed, ADDRESSES[node], port, starttls)
            assert got.get("verify") == "0 (ok)", (node, port, got)
            assert got.get("protocol") in ("TLSv1.3", "TLSv1.2"), (node, port, got)


def test_plain_text_is_refused(bed, demo):
    for port, says in ((5432, "no encryption"), (5000, "no encryption"),
                       (6432, "SSL required")):
        out = bed.sh("pg3", "sh", "-c",
                     f"PGPASSWORD={APP_PASSWORD} psql 'host={ADDRESSES['pg2']} port={port} "
                     f"dbname=app user=app sslmode=disable' -Atc 'SELECT 1' 2>&1", check=False)
        assert says in out, (port, out)
    # Patroni's API answers plain HTTP with no HTTP at all.
    assert http(bed, "pg4", "GET", f"http://{ADDRESSES['pg2']}:8008/patroni") == -1


def test_etcd_refuses_a_client_without_a_certificate(bed, demo):
    def ask(url, cert):
        return bed.sh("pg4", "python3", "-c", ETCD_MEMBERS, url, cert).strip()
    for node in MEMBERS:
        url = f"https://{ADDRESSES[node]}:2379"
        assert ask(url, "cert") == "3"
        assert ask(url, "none") in ("URLError", "SSLError", "ConnectionResetError"), node
        assert ask(url.replace("https", "http"), "none") != "3"


def test_etcd_users_keep_each_patroni_to_its_own_keys(bed, demo):
    url = f"https://{ADDRESSES['pg2']}:2379"
    # Patroni's login reads its own scope, and is refused another's (dr's, on this etcd)
    assert int(etcd_read(bed, "pg1", url, "patroni", "/service/demo/")) > 0
    assert "permission denied" in etcd_read(bed, "pg1", url, "patroni", "/service/dr/")
    # no login, no keys: the gateway's own certificate names no user
    assert not etcd_read(bed, "pg1", url, "none", "/service/demo/").isdigit()
    # the dcs hosts are etcd's admins through their certificates; pg4's is no admin
    status = bed.salt("pg1", "pgsalt_etcd.auth_status")["pg1"]
    assert status["enabled"] is True
    assert {user: status["users"][user] for user in ("pg1", "pg2", "pg3", "patroni-demo")} == {
        "pg1": ["root"], "pg2": ["root"], "pg3": ["root"], "patroni-demo": ["patroni-demo"]}
    assert status["roles"]["patroni-demo"] == [["readwrite", "/service/demo/", "/service/demo0"]]
    refused = bed.salt("pg4", "pgsalt_etcd.auth_status", f"endpoints={url}", f"ca_cert={CA}",
                       "cert_cert=/etc/pgsalt/tls/host.crt",
                       "cert_key=/etc/pgsalt/tls/host.key")["pg4"]
    # its CN, pg4, is no etcd user at all
    assert str(refused).startswith("ERROR") and "user name not found" in str(refused), refused


def test_patroni_unsafe_endpoints_need_credentials(bed, demo):
    base = f"https://{ADDRESSES['pg2']}:8008"
    assert http(bed, "pg4", "GET", base + "/patroni") == 200
    for method, path in (("POST", "/restart"), ("POST", "/switchover"), ("POST", "/failover"),
                         ("POST", "/reinitialize"), ("POST", "/reload"), ("PATCH", "/config"),
                         ("DELETE", "/restart")):
        assert http(bed, "pg4", method, base + path) == 401, (method, path)
    user = SETTINGS["users"]["rest_api"]
    assert http(bed, "pg4", "POST", base + "/reload",
                auth=f"{user.get('name', 'patroni')}:{user['password']}") in (200, 202)
    assert http(bed, "pg4", "POST", base + "/reload", auth="patroni:wrong-password-123456") == 401


def test_pg_hba_has_no_trust_and_the_network_needs_tls(bed, demo):
    for node in MEMBERS:
        rules = bed.sh(node, "su", "postgres", "-c",
                       "psql -XAtc \"SELECT type, coalesce(address, ''), auth_method, "
                       "coalesce(error, '') FROM pg_hba_file_rules\"").split()
        assert rules, node
        for rule in rules:
            kind, address, method, error = rule.split("|")
            assert not error and method not in ("trust", "md5", "password"), (node, rule)
            if kind.startswith("host") and address != "127.0.0.1" and method != "reject":
                assert kind == "hostssl", (node, rule)


def test_haproxy_stats_need_a_password_and_listen_on_the_cluster_network(bed, demo):
    user = SETTINGS["users"]["haproxy_stats"]
    for node in MEMBERS:
        url = f"http://{ADDRESSES[node]}:7000/"
        assert http(bed, "pg4", "GET", url) == 401
        assert http(bed, "pg4", "GET", url, auth=f"stats:{user['password']}") == 200
        # Keepalived's check stays open.
        assert http(bed, "pg4", "GET", url + "alive") == 200
        listening = bed.sh(node, "ss", "-ltnH", "sport = :7000").split()
        assert f"{ADDRESSES[node]}:7000" in listening and "0.0.0.0:7000" not in listening


def test_secrets_appear_nowhere_they_must_not(bed, demo):
    """The master's job cache and log, each host's minion log, journal, process list, and
    every file that holds a secret, which must be the service's own and not world-readable."""
    cache = master.ROOT / "var" / "cache" / "salt" / "master" / "jobs"
    leaks = [str(path) for path in [*cache.rglob("*"), master.LOG] if path.is_file()
             and any(s.encode() in path.read_bytes() for s in SECRETS)]
    assert leaks == []
    grep = " ".join(f"-e {s}" for s in SECRETS)
    for node in HOSTS:
        assert bed.sh(node, "sh", "-c", f"grep -cF {grep} /var/log/salt/minion || true") \
            .strip() in ("0", ""), node
        assert bed.sh(node, "sh", "-c", f"ps -eo args | grep -F {grep} | grep -v grep || true") \
            .strip() == "", node
        assert bed.sh(node, "sh", "-c", f"journalctl --no-pager | grep -cF {grep} || true") \
            .strip() == "0", node
        found = bed.sh(node, "sh", "-c",
                       f"grep -rlsF -D skip {grep} /etc /var /opt /root /home /tmp /run /srv "
                       "| xargs -r stat -c '%a %U %G %n'").splitlines()
        for line in found:
            mode, owner, group, path = line.split(" ", 3)
            assert mode in ("600", "640") and owner in ("root", "postgres"), (node, line)
            assert group in ("root", "postgres", "haproxy"), (node, line)


def _connections(stop, errors, counts):
    """A persistent session and a new one each round, through HAProxy and PgBouncer."""
    kwargs = {"dbname": "app", "user": "app", "password": APP_PASSWORD, "connect_timeout": 5,
              "sslmode": "require", "autocommit": True}
    with psycopg.connect(host=ADDRESSES["pg1"], port=5000, **kwargs) as kept:
        while not stop.is_set():
            try:
                kept.execute("SELECT 1")
                with psycopg.connect(host=ADDRESSES["pg2"], port=6432, **kwargs) as new:
                    new.execute("SELECT 1")
                counts.append(1)
            except psycopg.Error as exc:
                errors.append(f"{time.strftime('%T')} {exc}")
            time.sleep(0.2)


def _not_after(text):
    return datetime.datetime.strptime(text, "%b %d %H:%M:%S %Y %Z")


def _redeploy(bed, pillar):
    bed.override_pillar(pillar)
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo"})
    assert ok, failures(by_id)
    return by_id["pgsalt-deploy-tls-certificates"]["changes"]["return"]["minions"]


def test_a_short_lived_certificate_is_renewed_and_reloaded_without_downtime(bed, demo):
    leader = assert_one_leader_and_streaming_replicas(bed, MEMBERS)
    stop, errors, counts = threading.Event(), [], []
    load = threading.Thread(target=_connections, args=(stop, errors, counts))
    load.start()
    try:
        # Certificates of two days: the cluster CA issues them (renew_days above their life
        # forces it) and the deploy's states put them in place, reloading the services.
        bed.tb("salt-run", "pgsalt_ca.issue", "demo", ",".join(HOSTS), "network=10.77.0.0/24",
               "days=2", "renew_days=400", "exclude=[10.77.0.250]")
        short = _redeploy(bed, {"pgsalt": {"clusters": {"demo": {"tls": {"days": 2,
                                                                         "renew_days": 1}}}}})
        assert all(line.startswith("current") for line in short.values()), short
        before = {(node, port): served_certificate(bed, ADDRESSES[node], port, starttls)
                  for node in MEMBERS for port, starttls in TLS_PORTS}
        soon = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) \
            + datetime.timedelta(days=3)
        assert all(_not_after(c["not_after"]) < soon for c in before.values()), before
        # The pillar's own lifetime again: two days left is within renew_days, so the next
        # deploy renews every certificate and the services serve the new one.
        renewed = _redeploy(bed, None)
        assert all(line.startswith("issued") for line in renewed.values()), renewed

        def serving_new():
            return all(served_certificate(bed, ADDRESSES[node], port, starttls)["serial"]
                       != before[(node, port)]["serial"]
                       for node in MEMBERS for port, starttls in TLS_PORTS)
        bed.wait("every port serves its renewed certificate", serving_new, timeout=60)
        after = served_certificate(bed, ADDRESSES["pg1"], 5432, "-starttls postgres")
        assert _not_after(after["not_after"]) > soon + datetime.timedelta(days=300), after
    finally:
        bed.override_pillar(None)
        stop.set()
        load.join()
    assert errors == [] and len(counts) > 20, (errors, len(counts))
    assert assert_one_leader_and_streaming_replicas(bed, MEMBERS) == leader
