"""Unit tests of the cluster CA runner (_runners/pgsalt_ca.py) and its host side (pgsalt_tls),
and of the checks of a CA of the operator's own (pgsalt_pki.load_ca, own_ca_errors).

The crypto is real, in a tmp dir. Only Salt's transport is faked: ``salt.client.LocalClient``
is replaced by a fake that runs the real ``pgsalt_tls.request``/``install`` functions as each
minion would (its own id grain, its own addresses, its own files), so the tests cover the
whole round trip from key to installed certificate.
"""

import contextlib
import datetime
import re
import stat
from unittest.mock import MagicMock, patch

import loaders
import pgsalt_pki
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

tls = loaders.load("pgsalt_tls_under_test", "_modules/pgsalt_tls.py")
ca_runner = loaders.load("pgsalt_ca_runner_under_test", "_runners/pgsalt_ca.py")

NETWORK = "10.77.0.0/24"
CLUSTER = "demo"


class Host:
    """One minion: the id it answers as, the id its grains claim, its addresses and files."""

    def __init__(self, root, minion, up=True, claims=None):
        self.id = minion
        self.claims = claims or minion
        self.addresses = list(loaders.ADDRESSES[minion])
        self.up = up
        self.ignore_network = False
        self.dir = root / minion
        self.key = self.dir / "host.key"
        self.cert = self.dir / "issued" / "host.crt"
        self.ca = self.dir / "issued" / "ca.crt"
        self.etcd_cert = self.dir / "issued" / "etcd.crt"

    def call(self, fun, kwarg):
        """What the minion's job returns (as LocalClient.cmd gives it with full_return)."""
        kwarg = dict(kwarg, key_path=str(self.key), cert_path=str(self.cert),
                     etcd_cert_path=str(self.etcd_cert))
        if fun == "pgsalt_tls.install":
            kwarg["ca_path"] = str(self.ca)
        elif self.ignore_network:
            kwarg["network"] = None  # a host that asks for every address it has
        func = {"pgsalt_tls.request": tls.request, "pgsalt_tls.install": tls.install}[fun]
        salt = {"network.ip_addrs": lambda: list(self.addresses)}
        with (
            patch.object(tls, "__grains__", {"id": self.claims}),
            patch.object(tls, "__salt__", salt),
        ):
            try:
                return {"ret": func(**kwarg), "retcode": 0, "jid": "1"}
            except CommandExecutionError as exc:
                return {"ret": f"ERROR: {exc}", "retcode": 1, "jid": "1"}


class FakeLocalClient:
    """salt.client.LocalClient as the runner uses it: list targets, full returns."""

    def __init__(self, hosts):
        self.hosts = {h.id: h for h in hosts}
        self.calls = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass

    def cmd(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", full_return=False, kwarg=None):
        assert tgt_type == "list" and full_return and timeout
        # A minion that does not answer in time is False in cmd's return.
        replies = {m: self.hosts[m].call(fun, kwarg) if self.hosts[m].up else False for m in tgt}
        self.calls.append((fun, list(tgt), kwarg, replies))
        return replies

    def installs(self):
        return [call[1][0] for call in self.calls if call[0] == "pgsalt_tls.install"]


@pytest.fixture
def context():
    return {}


@pytest.fixture
def pki(tmp_path):
    return tmp_path / "pki"


@pytest.fixture
def configure_loader_modules(context, pki):
    return {
        ca_runner: {
            "__opts__": {"id": "master", "pki_dir": str(pki),
                         "conf_file": "/etc/salt/master"},
            "__context__": context,
            "__utils__": loaders.pki_utils(),
        },
        tls: {"__grains__": {"id": "pg1"}, "__salt__": {}, "__utils__": loaders.pki_utils()},
    }


@pytest.fixture
def hosts(tmp_path):
    return [Host(tmp_path / "hosts", m) for m in ("pg1", "pg2", "pg3")]


@pytest.fixture
def client(hosts):
    fake = FakeLocalClient(hosts)
    factory = MagicMock(return_value=fake)
    with patch.object(ca_runner.salt.client, "get_local_client", factory):
        yield fake
    # The master's config file: a runner the reactor starts has no usable publisher opts.
    for call in factory.call_args_list:
        assert call.args == ("/etc/salt/master",)


def issue(hosts, **kwargs):
    kwargs.setdefault("network", NETWORK)
    return ca_runner.issue(CLUSTER, ",".join(h.id for h in hosts), **kwargs)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def load_cert(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def ext(cert, cls):
    return cert.extensions.get_extension_for_class(cls).value


def test_round_trip_issues_then_reports_current(hosts, client, context, pki):
    ret = issue(hosts)
    assert ret["result"] is True and "Error" not in ret and "retcode" not in context
    assert ret["minions"] == {h.id: "issued: missing" for h in hosts}
    assert ret["comment"] == "pgsalt demo CA: 3 issued"

    ca_dir = pki / "pgsalt" / CLUSTER
    ca = load_cert(ca_dir / "ca.crt")
    assert mode(pki / "pgsalt") == mode(ca_dir) == 0o700 and mode(ca_dir / "ca.key") == 0o600
    assert ca.subject.rfc4514_string() == "CN=pgsalt demo CA"
    assert ext(ca, x509.BasicConstraints) == x509.BasicConstraints(ca=True, path_length=0)
    assert ext(ca, x509.KeyUsage).key_cert_sign and ext(ca, x509.KeyUsage).crl_sign
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp384r1"

    pg1 = hosts[0]
    cert = load_cert(pg1.cert)
    cert.verify_directly_issued_by(ca)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pg1"
    # the NAT address 192.168.100.1 is outside the network, so it is not certified
    # The address is a DNS name too, for pgBackRest before 2.48 (Debian 12).
    assert tls._san_strings(cert) == {"DNS:pg1", "IP:127.0.0.1", "IP:10.77.0.11",
                                      "DNS:10.77.0.11"}
    assert ext(cert, x509.BasicConstraints).ca is False
    usage = ext(cert, x509.KeyUsage)
    assert usage.digital_signature and usage.key_encipherment and not usage.key_cert_sign
    assert set(ext(cert, x509.ExtendedKeyUsage)) == {
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CLIENT_AUTH,
    }
    ski = ext(ca, x509.SubjectKeyIdentifier).digest
    assert ext(cert, x509.AuthorityKeyIdentifier).key_identifier == ski
    assert ext(cert, x509.SubjectKeyIdentifier).digest == (
        x509.SubjectKeyIdentifier.from_public_key(cert.public_key()).digest
    )
    assert 364 <= (cert.not_valid_after_utc - cert.not_valid_before_utc).days <= 366
    assert load_cert(pg1.ca) == ca
    assert mode(pg1.key) == 0o600 and mode(pg1.dir) == 0o755
    assert mode(pg1.cert) == mode(pg1.ca) == 0o644
    # the host's key never travelled: no argument, reply or report holds any of it
    key_lines = pg1.key.read_text().splitlines()[1:-1]
    travelled = repr(client.calls) + repr(ret)
    assert "CERTIFICATE REQUEST" in travelled
    assert not any(line in travelled for line in key_lines)

    info = tls.info(str(pg1.cert))
    assert info["subject"] == "CN=pg1" and info["issuer"] == "CN=pgsalt demo CA"
    assert info["sans"] == ["DNS:10.77.0.11", "DNS:pg1", "IP:10.77.0.11", "IP:127.0.0.1"]
    assert info["days_left"] in (364, 365)

    record = ca_runner.issued(CLUSTER)
    assert [(r["minion"], r["reason"]) for r in record] == [(h.id, "missing") for h in hosts]
    assert record[0]["serial"] == format(cert.serial_number, "x")
    assert record[0]["not_after"] == info["not_after"]

    # second run: nothing to sign, nothing written
    before = {h.id: h.cert.read_bytes() for h in hosts}
    client.calls.clear()
    ret = issue(hosts)
    assert ret["result"] is True
    assert ret["minions"]["pg1"] == f"current until {info['not_after']}"
    assert ret["comment"] == "pgsalt demo CA: 3 current"
    assert client.installs() == []
    assert {h.id: h.cert.read_bytes() for h in hosts} == before
    assert len(ca_runner.issued(CLUSTER)) == 3


def _move_address(host, pki):
    host.addresses[1] = "10.77.0.21"


def _new_ca(host, pki):
    for path in (pki / "pgsalt" / CLUSTER).iterdir():
        path.unlink()


def _new_key(host, pki):
    host.key.unlink()


@pytest.mark.parametrize(
    "change, days, reason, everyone",
    [
        (_move_address, 365, "SANs changed (+DNS:10.77.0.21 +IP:10.77.0.21 "
         "-DNS:10.77.0.11 -IP:10.77.0.11)", False),
        (_new_ca, 365, "other CA", True),
        (_new_key, 365, "key mismatch", False),
        (None, 20, "expires ", True),  # renew_days is 30: all three are due
    ],
    ids=["address", "ca", "key", "renewal"],
)
def test_reissue(hosts, client, pki, change, days, reason, everyone):
    """A changed address, a new CA, a new host key or a near expiry each mean a new certificate."""
    pg1 = hosts[0]
    assert issue(hosts, days=days)["result"] is True
    old = load_cert(pg1.cert)
    if change:
        change(pg1, pki)
    client.calls.clear()
    ret = issue(hosts)
    assert ret["result"] is True
    assert ret["minions"]["pg1"].startswith(f"issued: {reason}")
    if days == 20:
        assert ret["minions"]["pg1"] == f"issued: expires {pgsalt_pki.iso(old.not_valid_after_utc)}"
    assert client.installs() == (["pg1", "pg2", "pg3"] if everyone else ["pg1"])
    new = load_cert(pg1.cert)
    assert new.serial_number != old.serial_number
    new.verify_directly_issued_by(load_cert(pki / "pgsalt" / CLUSTER / "ca.crt"))
    # and the new certificate is the one the host now wants
    until = pgsalt_pki.iso(new.not_valid_after_utc)
    assert issue(hosts)["minions"]["pg1"] == f"current until {until}"


def _other_cn(host):
    host.claims = "pg1"  # pg2 asks for a certificate in pg1's name


def _outside_network(host):
    host.ignore_network = True  # pg2 asks for its NAT address too


def _down(host):
    host.up = False


@pytest.mark.parametrize(
    "fault, why",
    [
        (_other_cn, "CSR CN is 'pg1', not 'pg2'"),
        (_outside_network, "CSR asks for DNS:192.168.100.2, outside 10.77.0.0/24"),
        (_down, "did not answer pgsalt_tls.request within 60 s"),
    ],
    ids=["other-cn", "outside-network", "down"],
)
def test_failure_fails_the_orchestration_step(hosts, client, context, fault, why):
    fault(hosts[1])
    with patch.object(ca_runner, "log") as log:
        ret = issue(hosts)
    # the master's log names the refused minion too
    _fmt, cluster, minion, exc = log.warning.call_args.args
    assert (cluster, minion, str(exc)) == (CLUSTER, "pg2", why)
    # what salt.runner (salt/states/saltmod.py) fails a step on: an "Error" key in the
    # returned dict, or a non-zero __context__["retcode"] that makes the job unsuccessful
    assert context["retcode"] == 1
    assert ret["Error"] == ret["comment"] == f"pgsalt demo CA: pg2: {why}"
    assert ret["result"] is False
    assert ret["minions"] == {
        "pg1": "issued: missing",
        "pg2": f"failed: {why}",
        "pg3": "issued: missing",
    }
    assert client.installs() == ["pg1", "pg3"]
    assert not hosts[1].cert.exists()
    assert [r["minion"] for r in ca_runner.issued(CLUSTER)] == ["pg1", "pg3"]


def test_test_mode_signs_nothing(hosts, client, context, pki):
    ret = issue(hosts, test=True)
    # no CA yet: none is created and no minion is asked
    assert ret["result"] is True
    assert ret["minions"]["pg1"] == "would issue: the demo CA would be created"
    assert not (pki / "pgsalt" / CLUSTER).exists() and client.calls == []

    ca_runner.ca_cert(CLUSTER)
    hosts[2].up = False
    ret = issue(hosts[:2], test=True)
    assert ret == {
        "result": True,
        "comment": "pgsalt demo CA (test): 2 would issue",
        "minions": {"pg1": "would issue: missing", "pg2": "would issue: missing"},
    }
    assert client.installs() == [] and ca_runner.issued(CLUSTER) == []
    assert not hosts[0].cert.exists() and "retcode" not in context


def test_install_refuses_other_key_and_other_ca(hosts, client, tmp_path):
    assert issue(hosts)["result"] is True
    pg1, pg2 = hosts[0], hosts[1]
    ca_pem = pg1.ca.read_text()
    paths = {"key_path": str(pg1.key), "cert_path": str(pg1.cert), "ca_path": str(pg1.ca),
             "etcd_cert_path": str(pg1.etcd_cert)}
    own, etcd = pg1.cert.read_text(), pg1.etcd_cert.read_text()
    before = pg1.cert.read_bytes()
    with pytest.raises(CommandExecutionError, match="the certificate is not for the key"):
        tls.install(pg2.cert.read_text(), ca_pem, etcd, **paths)
    with pytest.raises(CommandExecutionError, match="the etcd certificate is not for the key"):
        tls.install(own, ca_pem, pg2.etcd_cert.read_text(), **paths)
    other = dict(ca_runner.__opts__, pgsalt_ca_dir=str(tmp_path / "other"))
    with patch.dict(ca_runner.__opts__, other):
        other_ca = ca_runner.ca_cert(CLUSTER)
    with pytest.raises(CommandExecutionError, match="not signed by CN=pgsalt demo CA"):
        tls.install(own, other_ca, etcd, **paths)
    assert pg1.cert.read_bytes() == before
    assert tls.install(own, ca_pem, etcd, **paths) == {
        "cert": "unchanged",
        "etcd_cert": "unchanged",
        "ca": "unchanged",
        "not_after": tls.info(str(pg1.cert))["not_after"],
    }


def test_the_etcd_certificate_names_no_user_and_is_renewed_with_the_host_certificate(
        hosts, client):
    assert issue(hosts)["result"] is True
    pg1 = hosts[0]
    own = x509.load_pem_x509_certificate(pg1.cert.read_bytes())
    etcd = x509.load_pem_x509_certificate(pg1.etcd_cert.read_bytes())
    # the same key and names; no CN, so the SANs are critical (RFC 5280)
    assert own.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "pg1"
    assert list(etcd.subject) == []
    assert etcd.public_key() == own.public_key()
    san = etcd.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value == own.extensions.get_extension_for_class(
        x509.SubjectAlternativeName).value
    # a host whose etcd certificate is gone gets both again
    pg1.etcd_cert.unlink()
    assert issue(hosts)["minions"]["pg1"] == "issued: etcd certificate missing"
    assert pg1.etcd_cert.exists()


@contextlib.contextmanager
def another_run_links_first(name, curve):
    """Another run writes its key to each file called NAME just before this run links its own.

    Yields that run's key and PEM. Key files are written through
    ``pgsalt_pki.create_exclusive`` (which ``create_key`` calls), so it is patched there.
    """
    winner = ec.generate_private_key(curve)
    winner_pem = winner.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    real = pgsalt_pki.create_exclusive

    def late(path, data, mode):
        if path.endswith(name):
            assert real(path, winner_pem, 0o600)
        return real(path, data, mode)

    with patch.object(pgsalt_pki, "create_exclusive", late):
        yield winner, winner_pem


def test_ca_key_is_never_overwritten(pki):
    ca_dir = pki / "pgsalt" / CLUSTER
    first = ca_runner.ca_cert(CLUSTER)
    key = (ca_dir / "ca.key").read_bytes()
    assert ca_runner.ca_cert(CLUSTER) == first
    assert (ca_dir / "ca.key").read_bytes() == key

    # another run wrote the key between this run's look and its write: this run
    # must take that key rather than replace it, and certify it
    (ca_dir / "ca.key").unlink()
    (ca_dir / "ca.crt").unlink()
    with another_run_links_first("ca.key", ec.SECP384R1()) as (winner, _pem):
        pem = ca_runner.ca_cert(CLUSTER)
    cert = x509.load_pem_x509_certificate(pem.encode())
    assert pgsalt_pki.spki(cert.public_key()) == pgsalt_pki.spki(winner.public_key())
    assert mode(ca_dir / "ca.key") == 0o600
    assert [p.name for p in ca_dir.iterdir() if p.name.startswith(".")] == []
    assert (cert.not_valid_after_utc - datetime.datetime.now(datetime.UTC)).days >= 3650


def test_host_key_is_never_overwritten(tmp_path):
    """Two requests at once on a host: the one that links its key second takes the first's."""
    path = tmp_path / "tls" / "host.key"
    with (
        another_run_links_first("host.key", ec.SECP256R1()) as (winner, winner_pem),
        patch.object(tls, "log") as log,
    ):
        key = tls._ensure_key(str(path))
    assert pgsalt_pki.spki(key.public_key()) == pgsalt_pki.spki(winner.public_key())
    assert path.read_bytes() == winner_pem and mode(path) == 0o600
    assert mode(path.parent) == 0o755
    assert [p.name for p in path.parent.iterdir()] == ["host.key"]  # no temporary file left
    log.info.assert_not_called()  # this run created no key

    # a later run loads that key, narrowing a mode wider than group read
    path.chmod(0o644)
    assert pgsalt_pki.spki(tls._ensure_key(str(path)).public_key()) == pgsalt_pki.spki(
        winner.public_key()
    )
    assert path.read_bytes() == winner_pem and mode(path) == 0o600


def test_unusable_key_is_refused_not_replaced(tmp_path):
    """A broken key is an error naming the file, none of its bytes, and it stays as it was."""
    path = tmp_path / "host.key"
    broken = b"-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n"
    path.write_bytes(broken)
    with pytest.raises(CommandExecutionError) as err:
        tls._ensure_key(str(path))
    assert str(err.value) == f"{path} is not a usable private key"
    assert path.read_bytes() == broken


def test_an_excluded_address_such_as_the_vip_changes_nothing(hosts, client):
    pg1 = hosts[0]
    assert issue(hosts, exclude=["10.77.0.250"])["result"] is True
    before = pg1.cert.read_bytes()
    pg1.addresses.append("10.77.0.250")  # keepalived put the VIP on pg1
    ret = issue(hosts, exclude=["10.77.0.250"])
    assert ret["minions"]["pg1"].startswith("current until"), ret
    assert pg1.cert.read_bytes() == before



# --------------------------------------------------------------------------
# a CA of the operator's own (tls:own_ca)
# --------------------------------------------------------------------------


def test_own_ca_signs_and_the_master_makes_no_ca(hosts, client, pki, tmp_path):
    own = loaders.own_ca(tmp_path / "own-ca")
    ret = issue(hosts, test=True, own_ca_cert=own["cert"], own_ca_key=own["key"])
    assert ret["minions"] == {h.id: "would issue: missing" for h in hosts}
    assert not pki.exists()

    ret = issue(hosts, own_ca_cert=own["cert"], own_ca_key=own["key"])
    assert ret["result"] is True
    assert ret["minions"] == {h.id: "issued: missing" for h in hosts}
    ca = load_cert(tmp_path / "own-ca" / "ca.crt")
    # the own CA has no SubjectKeyIdentifier: the AKI comes from its public key
    ca_key_id = x509.SubjectKeyIdentifier.from_public_key(ca.public_key()).digest
    for host in hosts:
        cert = load_cert(host.cert)
        cert.verify_directly_issued_by(ca)
        assert cert.issuer == ca.subject
        assert ext(cert, x509.AuthorityKeyIdentifier).key_identifier == ca_key_id
        assert load_cert(host.ca) == ca
    # the master keeps the record of what it issued, and no CA of its own for demo
    assert [p.name for p in (pki / "pgsalt" / CLUSTER).iterdir()] == ["issued.jsonl"]
    assert len(ca_runner.issued(CLUSTER)) == 3


def test_load_ca_of_the_operators_own(tmp_path):
    own = loaders.own_ca(tmp_path)
    key, cert = pgsalt_pki.load_ca(own["cert"], own["key"])
    assert cert == load_cert(tmp_path / "ca.crt")
    assert pgsalt_pki.spki(key.public_key()) == pgsalt_pki.spki(cert.public_key())
    plan = {"cluster": "second", "tls": {"own_ca": dict(own, cluster="demo")}}
    assert pgsalt_pki.own_ca_errors(plan) == []
    assert pgsalt_pki.own_ca_errors({"cluster": "demo", "tls": {"own_ca": None}}) == []


def _no_cert(own, tmp_path):
    (tmp_path / "ca.crt").unlink()


def _not_pem(own, tmp_path):
    (tmp_path / "ca.crt").write_text("not a certificate\n")


def _not_a_ca(own, tmp_path):
    own["cert"] = loaders.own_ca(tmp_path / "host", "pg1", ca=False)["cert"]


def _other_key(own, tmp_path):
    own["key"] = loaders.own_ca(tmp_path / "other")["key"]


def _no_key(own, tmp_path):
    (tmp_path / "ca.key").unlink()


@pytest.mark.parametrize(
    "fault, which, why",
    [
        (_no_cert, "cert", "is missing or unreadable"),
        (_not_pem, "cert", "is not a PEM certificate"),
        (_not_a_ca, "cert", "is not a CA certificate (basicConstraints)"),
        (_other_key, "key", "does not match the certificate"),
        (_no_key, "key", "is missing or unreadable"),
    ],
    ids=["no-cert", "not-pem", "not-a-ca", "other-key", "no-key"],
)
def test_own_ca_errors_name_the_pillar_key(tmp_path, fault, which, why):
    own = loaders.own_ca(tmp_path)
    fault(own, tmp_path)
    with pytest.raises(CommandExecutionError, match=re.escape(why)):
        pgsalt_pki.load_ca(own["cert"], own["key"])
    # a cluster on demo's etcd: the refusal names demo's key, where the CA is set
    errors = pgsalt_pki.own_ca_errors({"cluster": "second",
                                       "tls": {"own_ca": dict(own, cluster="demo")}})
    assert len(errors) == 1
    assert errors[0].startswith(f"pgsalt:clusters:demo:tls:own_ca:{which}: {own[which]} {why}")
