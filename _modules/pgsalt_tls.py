"""
The host's side of pgsalt's per-cluster TLS certificates.

Each cluster has a certificate authority on the Salt master (the ``pgsalt_ca``
runner). A host's private key is made here and never leaves the host: only a
certificate signing request (CSR) goes to the master, and only certificates
come back. ``salt-run pgsalt_ca.issue`` drives both steps:

1. ``request`` makes the key when there is none and returns either
   ``{"status": "current", ...}`` or ``{"status": "csr", "reason": ..., "csr": PEM}``;
2. the master checks and signs the CSR, and ``install`` writes the certificate
   and the CA certificate.

Files (defaults)::

    /etc/pgsalt/tls/host.key          EC P-256 key, 0600
    /etc/pgsalt/tls/issued/host.crt   the certificate issued to this host, 0644
    /etc/pgsalt/tls/issued/etcd.crt   the same, without a CN, for etcd, 0644
    /etc/pgsalt/tls/issued/ca.crt     the cluster CA's certificate, 0644

The certificate's CN is the minion id, and its subjectAltNames are
DNS:<minion id>, IP:127.0.0.1 and the host's IPv4 addresses (those inside
``network`` when one is given). The etcd certificate certifies the same key and
names without a CN: with etcd's auth on, a CN is an etcd user name, which etcd's
JSON gateway refuses from clients and gives to its own relayed requests. A state
copies the issued files to where the services read them and reloads the services
when they change.

Reading and writing those files goes through ``_utils/pgsalt_pki.py``
(``__utils__["pgsalt_pki.*"]``), which the master's ``pgsalt_ca`` runner uses too.
"""

import datetime
import ipaddress
import logging
import os
import socket
import ssl
import struct

from salt.exceptions import CommandExecutionError

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    IMPORT_ERROR = None
except ImportError as exc:
    IMPORT_ERROR = f"cryptography is not installed ({exc})"

log = logging.getLogger(__name__)

__virtualname__ = "pgsalt_tls"

TLS_DIR = "/etc/pgsalt/tls"
DEFAULT_KEY = f"{TLS_DIR}/host.key"
DEFAULT_CERT = f"{TLS_DIR}/issued/host.crt"
DEFAULT_CA = f"{TLS_DIR}/issued/ca.crt"
DEFAULT_ETCD_CERT = f"{TLS_DIR}/issued/etcd.crt"
LOOPBACK = "127.0.0.1"
# PostgreSQL's SSLRequest: length 8, then the code 1234.5679 (PgBouncer speaks it too).
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def __virtual__():
    if IMPORT_ERROR:
        return (False, f"{IMPORT_ERROR}; install cryptography into the minion's Python")
    return __virtualname__


def _now():
    return datetime.datetime.now(datetime.UTC)


def _ensure_key(path):
    """
    Load the host key at PATH, creating an EC P-256 key (0600) when there is none.

    CLI Example (internal):

    .. code-block:: python

        _ensure_key("/etc/pgsalt/tls/host.key")
    """
    key = __utils__["pgsalt_pki.load_key"](path)
    if key is not None:
        # Group read is the formula's own doing (root:ssl-cert 0640, for the services);
        # anything wider is not.
        if os.stat(path).st_mode & 0o037:
            os.chmod(path, 0o600)
        return key
    __utils__["pgsalt_pki.ensure_dir"](os.path.dirname(path), 0o755)
    # A run that lost the race uses the winner's key instead of replacing a key a CSR
    # was made from.
    key, created = __utils__["pgsalt_pki.create_key"](path, ec.SECP256R1())
    if created:
        log.info("created TLS host key %s", path)
    return key


def _load_cert(pem, what):
    """
    Parse one PEM certificate; WHAT names it in the error.

    CLI Example (internal):

    .. code-block:: python

        _load_cert(ca_pem, "CA certificate")
    """
    if isinstance(pem, str):
        pem = pem.encode()
    try:
        return x509.load_pem_x509_certificate(pem)
    except (ValueError, TypeError) as exc:
        raise CommandExecutionError(f"{what} is not a PEM certificate: {exc}") from exc


def _issued_by(cert, ca):
    """
    True when CA's key signed CERT (and CERT names CA's subject as its issuer).

    CLI Example (internal):

    .. code-block:: python

        _issued_by(host_cert, ca_cert)
    """
    try:
        cert.verify_directly_issued_by(ca)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _san_strings(cert_or_csr):
    """
    The subjectAltNames as a set of "DNS:name" / "IP:address" strings.

    CLI Example (internal):

    .. code-block:: python

        _san_strings(cert)  # {'DNS:pg1', 'IP:127.0.0.1', 'IP:10.77.0.11'}
    """
    try:
        ext = cert_or_csr.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    except x509.ExtensionNotFound:
        return set()
    out = set()
    for name in ext.value:
        if isinstance(name, x509.DNSName):
            out.add(f"DNS:{name.value}")
        elif isinstance(name, x509.IPAddress):
            out.add(f"IP:{name.value}")
        else:
            # Kept so that a certificate with names pgsalt never asks for counts as changed.
            out.add(f"{type(name).__name__}:{name.value}")
    return out


def _general_names(sans):
    """
    SAN strings back to x509 general names: DNS names first, then addresses in order.

    CLI Example (internal):

    .. code-block:: python

        _general_names({"DNS:pg1", "IP:127.0.0.1"})
    """
    dns = sorted(s[4:] for s in sans if s.startswith("DNS:"))
    ips = sorted(ipaddress.ip_address(s[3:]) for s in sans if s.startswith("IP:"))
    return [x509.DNSName(n) for n in dns] + [x509.IPAddress(ip) for ip in ips]


def _network(network):
    """
    NETWORK as an ip_network, or None for "every address".

    CLI Example (internal):

    .. code-block:: python

        _network("10.77.0.0/24")
    """
    if network in (None, ""):
        return None
    try:
        return ipaddress.ip_network(str(network), strict=False)
    except ValueError as exc:
        raise CommandExecutionError(f"network {network!r} is not a CIDR: {exc}") from exc


def _wanted_sans(network=None, exclude=None):
    """
    The SANs this host's certificate should carry.

    CLI Example (internal):

    .. code-block:: python

        _wanted_sans("10.77.0.0/24")  # {'DNS:pg1', 'IP:127.0.0.1', 'IP:10.77.0.11',
                                      #  'DNS:10.77.0.11'}
    """
    net = _network(network)
    wanted = {f"DNS:{__grains__['id']}", f"IP:{LOOPBACK}"}
    for text in __salt__["network.ip_addrs"]() or []:
        try:
            addr = ipaddress.ip_address(text)
        except ValueError:
            continue
        if addr.version == 4 and (net is None or addr in net) and text not in (exclude or ()):
            # Also as a DNS name: pgBackRest before 2.48 (Debian 12 has 2.45) matches the
            # host it connects to against the CN and DNS names only.
            wanted.update({f"IP:{addr}", f"DNS:{addr}"})
    return wanted


def _describe_change(have, wanted):
    """
    "+added -removed" for two SAN sets, for the reason of a new CSR.

    CLI Example (internal):

    .. code-block:: python

        _describe_change({"IP:10.0.0.1"}, {"IP:10.0.0.2"})  # '+IP:10.0.0.2 -IP:10.0.0.1'
    """
    parts = [f"+{s}" for s in sorted(wanted - have)] + [f"-{s}" for s in sorted(have - wanted)]
    return " ".join(parts)


def _stale_reason(cert_path, key, ca, wanted, renew_days):
    """
    Why the certificate at CERT_PATH must be replaced, or None with the certificate.

    CLI Example (internal):

    .. code-block:: python

        _stale_reason("/etc/pgsalt/tls/issued/host.crt", key, ca, wanted, 30)
    """
    data = __utils__["pgsalt_pki.read"](cert_path)
    if data is None:
        return "missing", None
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError:
        return "unreadable", None
    spki = __utils__["pgsalt_pki.spki"]
    if spki(cert.public_key()) != spki(key.public_key()):
        return "key mismatch", cert
    if not _issued_by(cert, ca):
        return "other CA", cert
    have = _san_strings(cert)
    if have != wanted:
        return f"SANs changed ({_describe_change(have, wanted)})", cert
    not_after = cert.not_valid_after_utc
    if not_after - _now() < datetime.timedelta(days=int(renew_days)):
        return f"expires {__utils__['pgsalt_pki.iso'](not_after)}", cert
    return None, cert


def _csr(key, sans):
    """
    A CSR for this minion: CN = minion id, the given SANs, signed with KEY.

    CLI Example (internal):

    .. code-block:: python

        _csr(key, {"DNS:pg1", "IP:127.0.0.1"})
    """
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, __grains__["id"])])
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject)
        .add_extension(x509.SubjectAlternativeName(_general_names(sans)), critical=False)
    )
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def request(ca_pem, network=None, renew_days=30, key_path=DEFAULT_KEY, cert_path=DEFAULT_CERT,
            exclude=None, etcd_cert_path=DEFAULT_ETCD_CERT):
    """
    Make the host key if needed; return a CSR when the issued certificate is not current.

    The certificate is current when it exists, holds this host's public key, was
    signed by the CA in ``ca_pem``, carries exactly the wanted SANs (DNS:<minion id>,
    IP:127.0.0.1 and the host's IPv4 addresses inside ``network``, all of them when
    ``network`` is not given, except those in ``exclude``: a virtual IP comes and goes
    with keepalived, and must not make the certificate change with it) and does not
    expire within ``renew_days``; the same holds for the etcd certificate.

    Returns ``{"status": "current", "not_after": ISO}`` or
    ``{"status": "csr", "reason": "missing" | "key mismatch" | "other CA" |
    "SANs changed (...)" | "expires DATE" | "etcd certificate REASON", "csr": PEM}``.
    The key itself is never
    returned or logged.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_tls.request "$(cat ca.crt)" network=10.77.0.0/24
    """
    ca = _load_cert(ca_pem, "CA certificate")
    wanted = _wanted_sans(network, exclude)
    key = _ensure_key(key_path)
    reason, cert = _stale_reason(cert_path, key, ca, wanted, renew_days)
    if reason is None:
        etcd_reason = _stale_reason(etcd_cert_path, key, ca, wanted, renew_days)[0]
        reason = etcd_reason and f"etcd certificate {etcd_reason}"
    if reason is None:
        not_after = __utils__["pgsalt_pki.iso"](cert.not_valid_after_utc)
        return {"status": "current", "not_after": not_after}
    log.info("TLS certificate %s needs a new one: %s", cert_path, reason)
    return {"status": "csr", "reason": reason, "csr": _csr(key, wanted)}


def _store(path, cert):
    """
    Write CERT to PATH (0644) unless PATH already holds it; "written" or "unchanged".

    CLI Example (internal):

    .. code-block:: python

        _store("/etc/pgsalt/tls/issued/ca.crt", ca)
    """
    pem = cert.public_bytes(serialization.Encoding.PEM)
    if __utils__["pgsalt_pki.read"](path) == pem:
        return "unchanged"
    __utils__["pgsalt_pki.ensure_dir"](os.path.dirname(path), 0o755)
    __utils__["pgsalt_pki.replace"](path, pem, 0o644)
    return "written"


def install(cert_pem, ca_pem, etcd_cert_pem, key_path=DEFAULT_KEY, cert_path=DEFAULT_CERT,
            ca_path=DEFAULT_CA, etcd_cert_path=DEFAULT_ETCD_CERT):
    """
    Write the certificates issued by ``pgsalt_ca.issue`` (the host's and its etcd
    certificate) and their CA certificate.

    Refuses a certificate for another key than the host's or one the CA did not
    sign. Each file is replaced atomically, and only when its content differs.
    Returns ``{"cert": "written"|"unchanged", "etcd_cert": ..., "ca": ...,
    "not_after": ISO}``.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_tls.install "$(cat pg1.crt)" "$(cat ca.crt)" "$(cat pg1-etcd.crt)"
    """
    ca = _load_cert(ca_pem, "CA certificate")
    key = __utils__["pgsalt_pki.load_key"](key_path)
    if key is None:
        raise CommandExecutionError(f"no host key at {key_path}; run pgsalt_tls.request first")
    spki = __utils__["pgsalt_pki.spki"]
    certs = {}
    for kind, pem in (("cert", cert_pem), ("etcd_cert", etcd_cert_pem)):
        what = "the certificate" if kind == "cert" else "the etcd certificate"
        cert = certs[kind] = _load_cert(pem, what)
        if spki(cert.public_key()) != spki(key.public_key()):
            raise CommandExecutionError(f"{what} is not for the key in {key_path}")
        if not _issued_by(cert, ca):
            raise CommandExecutionError(f"{what} was not signed by {ca.subject.rfc4514_string()}")
    # The CA first: a service that reloads on the new host certificate must find
    # the CA that vouches for it already in place.
    done = {"ca": _store(ca_path, ca),
            "etcd_cert": _store(etcd_cert_path, certs["etcd_cert"]),
            "cert": _store(cert_path, certs["cert"])}
    done["not_after"] = __utils__["pgsalt_pki.iso"](certs["cert"].not_valid_after_utc)
    return done


def info(cert_path=DEFAULT_CERT):
    """
    Describe a certificate: subject, SANs, issuer, serial, validity and days left.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_tls.info
        salt pg1 pgsalt_tls.info cert_path=/etc/pgsalt/tls/issued/ca.crt
    """
    data = __utils__["pgsalt_pki.read"](cert_path)
    if data is None:
        raise CommandExecutionError(f"no certificate at {cert_path}")
    cert = _load_cert(data, cert_path)
    not_after = cert.not_valid_after_utc
    iso = __utils__["pgsalt_pki.iso"]
    return {
        "subject": cert.subject.rfc4514_string(),
        "sans": sorted(_san_strings(cert)),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "not_before": iso(cert.not_valid_before_utc),
        "not_after": iso(not_after),
        "days_left": (not_after - _now()).days,
    }


def _served_der(address, port, starttls, timeout):
    """The DER certificate a server presents; None when nothing answers."""
    ctx = ssl.create_default_context()
    # Only the certificate is wanted here, whoever signed it: no verification.
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((address, int(port)), timeout=timeout) as sock:
            if starttls == "postgres":
                sock.sendall(SSL_REQUEST)
                if sock.recv(1) != b"S":
                    raise CommandExecutionError(f"{address}:{port} refused TLS")
            with ctx.wrap_socket(sock) as tls:
                return tls.getpeercert(binary_form=True)
    except (OSError, ssl.SSLError) as exc:
        log.debug("no TLS answer from %s:%s: %s", address, port, exc)
        return None


def serving(port, address=LOOPBACK, starttls=None, cert_path=DEFAULT_CERT, timeout=5):
    """
    Whether the server at ADDRESS:PORT presents the certificate in CERT_PATH: a
    renewed certificate is served only once its service has reloaded. STARTTLS
    ``postgres`` asks for TLS the way PostgreSQL and PgBouncer expect.

    Returns ``{"current": bool, "serving": serial | None, "file": serial}``
    (``serving`` None: nothing answered with TLS).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_tls.serving 5432 starttls=postgres cert_path=/etc/pgsalt/tls/host.crt
    """
    data = __utils__["pgsalt_pki.read"](cert_path)
    if data is None:
        raise CommandExecutionError(f"no certificate at {cert_path}")
    wanted = _load_cert(data, cert_path)
    der = _served_der(address, port, starttls, timeout)
    served = x509.load_der_x509_certificate(der) if der else None
    return {
        "current": served is not None and served == wanted,
        "serving": format(served.serial_number, "x") if served else None,
        "file": format(wanted.serial_number, "x"),
    }
