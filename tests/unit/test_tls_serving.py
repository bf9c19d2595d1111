"""Unit tests of which certificate a service presents: pgsalt_tls.serving, the module
function (against real local TLS servers) and the state that reloads a service serving an
older certificate than its file (over a faked module function)."""

import contextlib
import datetime
import socket
import ssl
import threading
from unittest.mock import MagicMock, call, patch

import loaders
import pgsalt_states
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

pytestmark = pytest.mark.unit

tls = loaders.load("pgsalt_tls_serving_under_test", "_modules/pgsalt_tls.py")
tls_state = loaders.load("pgsalt_tls_state_under_test", "_states/pgsalt_tls.py")

API = {"address": "10.77.0.11", "port": 8008}
PG = {"port": 5432, "starttls": "postgres"}


@pytest.fixture
def configure_loader_modules():
    return {
        tls: {"__utils__": loaders.pki_utils()},
        tls_state: {"__salt__": {"pgsalt_tls.serving": MagicMock(), "service.reload": MagicMock()},
                    "__opts__": {"test": False},
                    "__utils__": {"pgsalt_states.unavailable": pgsalt_states.unavailable}},
    }


# --- module: serving() ------------------------------------------------------


def _certificate(tmp_path, name):
    """A self-signed certificate: (its serial in hex, cert file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return format(cert.serial_number, "x"), str(cert_path), str(key_path)


@contextlib.contextmanager
def _server(cert_path, key_path, postgres=False):
    """A server on a free local port that answers one connection with TLS; with POSTGRES,
    first an SSLRequest, as PostgreSQL and PgBouncer do. Yields (port, bytes received
    before TLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_path, key_path)
    listener = socket.create_server(("127.0.0.1", 0))
    received = []

    def serve():
        conn, _ = listener.accept()
        with conn:
            if postgres:
                received.append(conn.recv(8))
                conn.sendall(b"S")
            with ctx.wrap_socket(conn, server_side=True):
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], received
    finally:
        thread.join(5)
        listener.close()


def test_serving_the_certificate_of_the_file(tmp_path):
    serial, cert, key = _certificate(tmp_path, "host")
    with _server(cert, key) as (port, _):
        assert tls.serving(port, cert_path=cert) == {
            "current": True, "serving": serial, "file": serial}


def test_serving_another_certificate_than_the_file(tmp_path):
    old, old_cert, old_key = _certificate(tmp_path, "old")
    new, new_cert, _ = _certificate(tmp_path, "new")
    with _server(old_cert, old_key) as (port, _):
        assert tls.serving(port, cert_path=new_cert) == {
            "current": False, "serving": old, "file": new}


def test_serving_asks_postgres_for_tls_first(tmp_path):
    serial, cert, key = _certificate(tmp_path, "host")
    with _server(cert, key, postgres=True) as (port, received):
        assert tls.serving(port, starttls="postgres", cert_path=cert)["serving"] == serial
    assert received == [tls.SSL_REQUEST]


def test_serving_nothing_when_nothing_answers(tmp_path):
    serial, cert, _ = _certificate(tmp_path, "host")
    with socket.create_server(("127.0.0.1", 0)) as closed:
        port = closed.getsockname()[1]
    assert tls.serving(port, cert_path=cert, timeout=1) == {
        "current": False, "serving": None, "file": serial}


# --- state: serving ----------------------------------------------------------


@pytest.fixture
def cert(tmp_path):
    """The certificate file the state compares with (its content is the module's business)."""
    path = tmp_path / "host.crt"
    path.write_text("certificate")
    return str(path)


def _found(serving, file="ab"):
    """What pgsalt_tls.serving returns when the endpoint presents serial SERVING."""
    return {"current": serving == file, "serving": serving, "file": file}


def _serving(*found):
    tls_state.__salt__["pgsalt_tls.serving"].side_effect = list(found)
    return tls_state.__salt__["pgsalt_tls.serving"]


@pytest.mark.parametrize("served", ["ab", None], ids=["current", "nothing-answers"])
def test_state_serving_has_nothing_to_do(served, cert):
    serving = _serving(_found("ab"), _found(served))
    ret = tls_state.serving("patroni", cert, [API, PG])
    assert ret == {"name": "patroni", "result": True, "changes": {},
                   "comment": "patroni serves certificate ab"}
    assert serving.call_args_list == [
        call(8008, address="10.77.0.11", starttls=None, cert_path=cert),
        call(5432, address="127.0.0.1", starttls="postgres", cert_path=cert)]
    tls_state.__salt__["service.reload"].assert_not_called()


def test_state_serving_test_mode(cert):
    _serving(_found("ab"), _found("aa"))
    with patch.dict(tls_state.__opts__, {"test": True}):
        ret = tls_state.serving("patroni", cert, [API, PG])
    assert ret["result"] is None
    assert ret["changes"] == {"old": {"127.0.0.1:5432": "aa"}, "new": {"127.0.0.1:5432": "ab"}}
    tls_state.__salt__["service.reload"].assert_not_called()


def test_state_serving_reloads_and_waits_for_the_new_certificate(cert):
    # before the reload, once more while it takes effect, then the file's certificate
    serving = _serving(_found("aa"), _found("aa"), _found("ab"))
    with patch.object(tls_state, "_INTERVAL", 0):
        ret = tls_state.serving("pgbouncer", cert, [PG])
    tls_state.__salt__["service.reload"].assert_called_once_with("pgbouncer")
    assert ret["result"] is True and ret["comment"] == "pgbouncer reloaded: serves certificate ab"
    assert ret["changes"] == {"old": {"127.0.0.1:5432": "aa"}, "new": {"127.0.0.1:5432": "ab"}}
    assert serving.call_count == 3


def test_state_serving_fails_when_the_reload_does_not_take(cert):
    tls_state.__salt__["pgsalt_tls.serving"].return_value = _found("aa")
    with patch.object(tls_state, "_INTERVAL", 0.01):
        ret = tls_state.serving("pgbouncer", cert, [PG], timeout=0.05)
    tls_state.__salt__["service.reload"].assert_called_once_with("pgbouncer")
    assert ret["result"] is False
    assert ret["comment"] == ("pgbouncer was reloaded but still serves another certificate "
                              "than ab at 127.0.0.1:5432 after 0.05s")


@pytest.mark.parametrize("test", [True, False])
def test_state_serving_without_a_certificate_file_yet(tmp_path, test):
    with patch.dict(tls_state.__opts__, {"test": test}):
        ret = tls_state.serving("patroni", str(tmp_path / "none.crt"), [API])
    assert ret["result"] is (None if test else True)
    assert ret["comment"].endswith("yet: nothing to compare")
    tls_state.__salt__["pgsalt_tls.serving"].assert_not_called()


def test_state_serving_before_the_module_loads_predicts_in_test_mode(cert):
    with patch.dict(tls_state.__salt__, clear=True), \
            patch.dict(tls_state.__opts__, {"test": True}):
        ret = tls_state.serving("patroni", cert, [API])
    assert ret["result"] is None and "cryptography" in ret["comment"]
