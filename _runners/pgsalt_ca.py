"""
A certificate authority per pgsalt cluster, kept on the Salt master (``salt-run pgsalt_ca.*``).

Hosts make their own keys (``pgsalt_tls.request`` on the minion); only CSRs
come to the master, and only certificates go back (``pgsalt_tls.install``).
A client certificate's CN is the minion id, which is what pgBackRest's TLS
server and etcd (its admins) authorise on. Each host also gets the same
certificate without a CN, which etcd serves with and Patroni presents to etcd.

The CAs live in ``pgsalt_ca_dir`` (master option), by default
``<pki_dir>/pgsalt``, one directory per cluster::

    <dir>/<cluster>/ca.key       EC P-384 key, 0600
    <dir>/<cluster>/ca.crt       CN "pgsalt <cluster> CA", 10 years
    <dir>/<cluster>/issued.jsonl one JSON line per issued certificate

Reading and writing those files goes through ``_utils/pgsalt_pki.py``
(``__utils__["pgsalt_pki.*"]``), which the host side uses too.

An orchestration issues certificates with::

    issue-certificates:
      salt.runner:
        - name: pgsalt_ca.issue
        - cluster: demo
        - minions: [pg1, pg2, pg3]
        - network: 10.77.0.0/24
"""

import datetime
import ipaddress
import json
import logging
import os
import re

import salt.client
import salt.loader
from salt.exceptions import CommandExecutionError, SaltInvocationError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from cryptography.x509.oid import NameOID

    IMPORT_ERROR = None
except ImportError as exc:
    IMPORT_ERROR = f"cryptography is not installed ({exc})"

log = logging.getLogger(__name__)

__virtualname__ = "pgsalt_ca"

CA_DAYS = 3652  # ten years, leap days included
# Certificates start a little in the past so that a host whose clock lags the
# master's does not reject a certificate issued a moment ago.
BACKDATE = datetime.timedelta(minutes=5)
# Seconds to wait for the minions' answers to one call.
DEFAULT_TIMEOUT = 60
LOOPBACK = ipaddress.ip_address("127.0.0.1")
_CLUSTER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
RECORD = "issued.jsonl"
CONTEXT_X509 = "pgsalt_ca.x509"


def __virtual__():
    if IMPORT_ERROR:
        return (False, f"{IMPORT_ERROR}; install cryptography into the master's Python")
    return __virtualname__


class Refused(CommandExecutionError):
    """One minion's certificate cannot be issued; the others still can."""


def _now():
    return datetime.datetime.now(datetime.UTC)


def _cluster_dir(cluster, create=True):
    """
    The directory of CLUSTER's CA, created 0700 (with its parent) when CREATE.

    CLI Example (internal):

    .. code-block:: python

        _cluster_dir("demo")  # '/etc/salt/pki/master/pgsalt/demo'
    """
    # The name becomes a path: nothing that could climb out of the CA directory.
    if not isinstance(cluster, str) or not _CLUSTER_NAME.match(cluster):
        raise SaltInvocationError(f"not a cluster name: {cluster!r}")
    base = __opts__.get("pgsalt_ca_dir") or os.path.join(__opts__["pki_dir"], "pgsalt")
    path = os.path.join(base, cluster)
    if create:
        for each in (base, path):
            __utils__["pgsalt_pki.ensure_dir"](each, 0o700)
    return path


def _ca_key(directory, create):
    """
    The CA key in DIRECTORY, made (EC P-384) when absent and CREATE; else None.

    CLI Example (internal):

    .. code-block:: python

        _ca_key("/etc/salt/pki/master/pgsalt/demo", create=True)
    """
    path = os.path.join(directory, "ca.key")
    key = __utils__["pgsalt_pki.load_key"](path)
    if key is not None or not create:
        return key
    # Another run that made the key first wins: its key is the CA's.
    key, created = __utils__["pgsalt_pki.create_key"](path, ec.SECP384R1())
    if created:
        log.info("created CA key %s", path)
    return key


def _x509(function):
    """
    FUNCTION of Salt's x509 execution module (x509_v2), loaded on the master: it builds
    and signs the CA's and the hosts' certificates.

    CLI Example (internal):

    .. code-block:: python

        _x509("create_certificate")(signing_private_key=pem, CN="pgsalt demo CA", ...)
    """
    if CONTEXT_X509 not in __context__:
        # x509_v2 is what Salt 3008 calls x509 when the feature flag is set; the old module
        # would answer otherwise.
        opts = dict(__opts__, features={**(__opts__.get("features") or {}), "x509_v2": True})
        __context__[CONTEXT_X509] = salt.loader.minion_mods(opts, whitelist=["x509", "x509_v2"])
    return __context__[CONTEXT_X509][f"x509.{function}"]


def _pem(obj):
    """A key or certificate as PEM text, for Salt's x509 module (never logged)."""
    if hasattr(obj, "private_bytes"):
        return obj.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption()).decode()
    return obj.public_bytes(serialization.Encoding.PEM).decode()


def _utc(moment):
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S")


def _new_ca_cert(cluster, key):
    """
    A self-signed CA certificate for CLUSTER: CA=true pathlen 0, keyCertSign+cRLSign.

    CLI Example (internal):

    .. code-block:: python

        _new_ca_cert("demo", key)
    """
    now = _now()
    pem = _x509("create_certificate")(
        signing_private_key=_pem(key), CN=f"pgsalt {cluster} CA",
        basicConstraints="critical, CA:TRUE, pathlen:0", keyUsage="critical, keyCertSign, cRLSign",
        subjectKeyIdentifier="hash", authorityKeyIdentifier="keyid:always", digest="sha384",
        not_before=_utc(now - BACKDATE), not_after=_utc(now + datetime.timedelta(days=CA_DAYS)))
    return x509.load_pem_x509_certificate(pem.encode())


def _ca(cluster, create=True, own=None):
    """
    CLUSTER's CA as (key, certificate); None when it does not exist and not CREATE.
    OWN, ``(cert path, key path)`` of the operator's own CA, is loaded instead.

    CLI Example (internal):

    .. code-block:: python

        key, cert = _ca("demo")
    """
    if own:
        return __utils__["pgsalt_pki.load_ca"](*own)
    directory = _cluster_dir(cluster, create)
    key = _ca_key(directory, create)
    if key is None:
        return None
    path = os.path.join(directory, "ca.crt")
    data = __utils__["pgsalt_pki.read"](path)
    if data is None and not create:
        return None
    if data is None:
        # Also reached when an earlier run died between key and certificate;
        # every run certifies the key on disk, and the first certificate linked wins.
        cert = _new_ca_cert(cluster, key)
        pem = cert.public_bytes(serialization.Encoding.PEM)
        if not __utils__["pgsalt_pki.create_exclusive"](path, pem, 0o644):
            data = __utils__["pgsalt_pki.read"](path)
    if data is not None:
        cert = x509.load_pem_x509_certificate(data)
    spki = __utils__["pgsalt_pki.spki"]
    if spki(cert.public_key()) != spki(key.public_key()):
        raise CommandExecutionError(f"{path} is not the certificate of {directory}/ca.key")
    return key, cert


def ca_cert(cluster):
    """
    The PEM certificate of CLUSTER's CA, creating the CA when there is none.

    Safe to run twice at once: a CA key, once written, is never replaced.

    CLI Example:

    .. code-block:: bash

        salt-run pgsalt_ca.ca_cert demo
    """
    _key, cert = _ca(cluster)
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _minion_list(minions):
    """
    Minion ids from a list or a comma-separated string, without blanks or repeats.

    CLI Example (internal):

    .. code-block:: python

        _minion_list("pg1, pg2,pg1")  # ['pg1', 'pg2']
    """
    if isinstance(minions, str):
        minions = minions.split(",")
    out = []
    for minion in minions or []:
        minion = str(minion).strip()
        if minion and minion not in out:
            out.append(minion)
    if not out:
        raise SaltInvocationError("issue needs at least one minion id")
    return out


def _network(network):
    """
    NETWORK as an ip_network, or None when any address may be certified.

    CLI Example (internal):

    .. code-block:: python

        _network("10.77.0.0/24")
    """
    if network in (None, ""):
        return None
    try:
        return ipaddress.ip_network(str(network), strict=False)
    except ValueError as exc:
        raise SaltInvocationError(f"network {network!r} is not a CIDR: {exc}") from exc


def _answer(replies, minion, fun, timeout):
    """
    What MINION's FUN returned, from a full_return LocalClient.cmd; Refused if it failed.

    CLI Example (internal):

    .. code-block:: python

        _answer(client.cmd(..., full_return=True), "pg1", "pgsalt_tls.request", 60)
    """
    reply = (replies or {}).get(minion)
    # cmd gives False (or a "no_return" entry) for a minion that said nothing in time.
    if not isinstance(reply, dict) or reply.get("out") == "no_return":
        raise Refused(f"did not answer {fun} within {timeout} s")
    ret = reply.get("ret")
    if reply.get("retcode", 0) != 0 or not isinstance(ret, dict):
        raise Refused(f"{fun} failed: {str(ret).strip()}")
    return ret


def _check_key(public_key):
    """
    Refuse a CSR key too weak to certify (pgsalt's hosts make EC P-256 keys).

    CLI Example (internal):

    .. code-block:: python

        _check_key(csr.public_key())
    """
    if isinstance(public_key, ec.EllipticCurvePublicKey) and public_key.curve.key_size >= 256:
        return
    if isinstance(public_key, rsa.RSAPublicKey) and public_key.key_size >= 2048:
        return
    raise Refused("CSR key is neither EC (256 bits or more) nor RSA (2048 bits or more)")


def _as_address(text):
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _allowed_address(addr, net):
    return addr is not None and (addr == LOOPBACK or net is None or addr in net)


def _csr_sans(csr, minion, net):
    """
    The CSR's SANs as general names, after checking each may be certified for MINION.

    DNS names must be the minion id, or an address allowed as an IP name (pgBackRest
    before 2.48 matches hosts against DNS names only); addresses must be 127.0.0.1 or
    inside NET (any address when NET is None); other kinds of names are refused.

    CLI Example (internal):

    .. code-block:: python

        _csr_sans(csr, "pg1", ipaddress.ip_network("10.77.0.0/24"))
    """
    try:
        names = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound as exc:
        raise Refused("CSR has no subjectAltName") from exc
    for name in names:
        if isinstance(name, x509.DNSName):
            addr = _as_address(name.value)
            if addr is None and name.value != minion:
                raise Refused(f"CSR asks for DNS:{name.value}, not DNS:{minion}")
            if addr is not None and not _allowed_address(addr, net):
                raise Refused(f"CSR asks for DNS:{name.value}, outside {net}")
        elif isinstance(name, x509.IPAddress):
            if not _allowed_address(name.value, net):
                raise Refused(f"CSR asks for IP:{name.value}, outside {net}")
        else:
            raise Refused(f"CSR asks for a {type(name).__name__}, which pgsalt does not issue")
    return list(names)


def _check_csr(pem, minion, net):
    """
    Parse and check MINION's CSR; return (csr, SAN general names) or raise Refused.

    Salt authenticated the minion that returned the CSR, so its CN must be that
    minion's id: one host cannot get a certificate in another's name.

    CLI Example (internal):

    .. code-block:: python

        _check_csr(pem, "pg1", None)
    """
    try:
        csr = x509.load_pem_x509_csr(pem.encode() if isinstance(pem, str) else pem)
    except (ValueError, TypeError, AttributeError) as exc:
        raise Refused(f"not a PEM CSR: {exc}") from exc
    if not csr.is_signature_valid:
        raise Refused("CSR signature does not verify")
    cns = [a.value for a in csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    if cns != [minion]:
        raise Refused(f"CSR CN is {', '.join(map(repr, cns)) or 'missing'}, not {minion!r}")
    _check_key(csr.public_key())
    return csr, _csr_sans(csr, minion, net)


def _sign(ca, minion, csr, sans, days):
    """
    A host certificate for MINION from its CSR (CN and SANs as checked), valid DAYS,
    signed by CA with Salt's x509 module; with MINION None, one without a CN (a host's
    etcd certificate).

    CLI Example (internal):

    .. code-block:: python

        _sign((ca_key, ca_cert), "pg1", csr, sans, 365)
    """
    ca_key, ca_cert = ca
    now = _now()
    # A host certificate never outlives the CA that vouches for it.
    not_after = min(now + datetime.timedelta(days=int(days)), ca_cert.not_valid_after_utc)
    names = ", ".join(f"IP:{san.value}" if isinstance(san, x509.IPAddress) else f"DNS:{san.value}"
                      for san in sans)
    subject = {"CN": minion} if minion else {}
    pem = _x509("create_certificate")(
        signing_private_key=_pem(ca_key), signing_cert=_pem(ca_cert), csr=_pem(csr),
        **subject, basicConstraints="critical, CA:FALSE",
        keyUsage="critical, digitalSignature, keyEncipherment",
        extendedKeyUsage="serverAuth, clientAuth",
        # Critical when the subject is empty (RFC 5280, 4.2.1.6).
        subjectAltName=("" if minion else "critical, ") + names,
        subjectKeyIdentifier="hash", authorityKeyIdentifier="keyid:always", digest="sha384",
        not_before=_utc(now - BACKDATE), not_after=_utc(not_after))
    return x509.load_pem_x509_certificate(pem.encode())


def _record(cluster, cert, minion, reason):
    """
    Append one issued certificate to CLUSTER's record (read back by ``issued``).

    CLI Example (internal):

    .. code-block:: python

        _record("demo", cert, "pg1", "missing")
    """
    entry = {
        "serial": format(cert.serial_number, "x"),
        "minion": minion,
        "not_after": __utils__["pgsalt_pki.iso"](cert.not_valid_after_utc),
        "issued_at": __utils__["pgsalt_pki.iso"](_now()),
        "reason": reason,
    }
    path = os.path.join(_cluster_dir(cluster), RECORD)
    # One short O_APPEND write per entry: lines of runs at once don't interleave.
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (json.dumps(entry, sort_keys=True) + "\n").encode())
    finally:
        os.close(fd)


def issued(cluster):
    """
    The certificates CLUSTER's CA has issued, oldest first: serial, minion, not_after,
    issued_at and the reason it was issued.

    CLI Example:

    .. code-block:: bash

        salt-run pgsalt_ca.issued demo
    """
    path = os.path.join(_cluster_dir(cluster, create=False), RECORD)
    data = __utils__["pgsalt_pki.read"](path)
    if data is None:
        return []
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def _client():
    """
    A LocalClient that publishes through this master.

    CLI Example (internal):

    .. code-block:: python

        with _client() as client:
            client.cmd(["pg1"], "test.ping", tgt_type="list")
    """
    # From the master's config file, not __opts__: in a runner the reactor started, those
    # opts carry no publisher key the master accepts (an authentication error).
    return salt.client.get_local_client(__opts__["conf_file"])


def _issue_one(client, cluster, ca, minion, answer, opts):
    """
    Act on one minion's ``pgsalt_tls.request`` answer; returns the line for the report.

    CLI Example (internal):

    .. code-block:: python

        _issue_one(client, "demo", ca, "pg1", {"status": "csr", ...}, opts)
    """
    if answer.get("status") == "current":
        return f"current until {answer.get('not_after')}"
    if answer.get("status") != "csr":
        raise Refused(f"pgsalt_tls.request answered status {answer.get('status')!r}")
    reason = answer.get("reason") or "requested"
    csr, sans = _check_csr(answer.get("csr"), minion, opts["net"])
    if opts["test"]:
        return f"would issue: {reason}"
    cert = _sign(ca, minion, csr, sans, opts["days"])
    etcd_cert = _sign(ca, None, csr, sans, opts["days"])
    _record(cluster, cert, minion, reason)
    kwarg = {
        "cert_pem": cert.public_bytes(serialization.Encoding.PEM).decode(),
        "ca_pem": ca[1].public_bytes(serialization.Encoding.PEM).decode(),
        "etcd_cert_pem": etcd_cert.public_bytes(serialization.Encoding.PEM).decode(),
    }
    replies = client.cmd(
        [minion],
        "pgsalt_tls.install",
        kwarg=kwarg,
        tgt_type="list",
        timeout=opts["timeout"],
        full_return=True,
    )
    _answer(replies, minion, "pgsalt_tls.install", opts["timeout"])
    log.info("issued certificate %x to %s (%s)", cert.serial_number, minion, reason)
    return f"issued: {reason}"


def _report(cluster, lines, failures, test):
    """
    The runner's return: per-minion lines, and on failure what makes orchestration fail.

    ``salt.runner`` (salt/states/saltmod.py) judges a runner by the ``success``
    of its job, which is false when ``__context__["retcode"]`` is non-zero or
    when the returned dict has an ``Error`` key; both are set on failure. Its
    own comment is fixed ("Runner function ... failed."), so the minions and
    reasons are in the return it shows under ``changes``.

    CLI Example (internal):

    .. code-block:: python

        _report("demo", {"pg1": "issued: missing"}, {}, False)
    """
    kinds = ("issued", "current", "would issue")
    counts = {k: sum(line.startswith(k) for line in lines.values()) for k in kinds}
    summary = ", ".join(f"{n} {kind}" for kind, n in counts.items() if n)
    ret = {"result": not failures, "minions": dict(lines)}
    if failures:
        error = "; ".join(f"{minion}: {reason}" for minion, reason in failures.items())
        ret["comment"] = f"pgsalt {cluster} CA: {error}"
        ret["Error"] = ret["comment"]
        __context__["retcode"] = 1
    else:
        ret["comment"] = f"pgsalt {cluster} CA{' (test)' if test else ''}: {summary}"
    return ret


def issue(
    cluster, minions, network=None, days=365, renew_days=30, test=False, timeout=DEFAULT_TIMEOUT,
    exclude=None, own_ca_cert=None, own_ca_key=None,
):
    """
    Give each of MINIONS a current certificate from CLUSTER's CA.

    Each minion runs ``pgsalt_tls.request`` (addresses in ``exclude``, such as a VIP,
    are left out of its certificate); a CSR it returns is signed when it
    verifies, its CN is that minion's id and its addresses are 127.0.0.1 or
    inside ``network``; the certificate goes back with ``pgsalt_tls.install``.
    ``own_ca_cert`` and ``own_ca_key`` (paths on the master) sign with a CA of the
    operator's own instead of the one the master keeps for CLUSTER.
    With ``test=True`` nothing is signed or written (a host key is still
    created where missing: the request needs one) and the report says who
    would get a certificate and why.

    Returns ``{"result": bool, "comment": str, "minions": {id: "issued: REASON" |
    "current until DATE" | "would issue: REASON" | "failed: REASON"}}``. A
    failure (a minion that did not answer, a refused CSR, a failed install)
    also sets ``Error`` and the exit code, which fails a ``salt.runner``
    orchestration step.

    CLI Example:

    .. code-block:: bash

        salt-run pgsalt_ca.issue demo pg1,pg2,pg3 network=10.77.0.0/24
        salt-run pgsalt_ca.issue demo '[pg1, pg2]' test=True
    """
    minion_ids = _minion_list(minions)
    opts = {"net": _network(network), "days": int(days), "test": test, "timeout": timeout}
    own = (own_ca_cert, own_ca_key) if own_ca_cert or own_ca_key else None
    ca = _ca(cluster, create=not test, own=own)
    if ca is None:
        lines = {m: f"would issue: the {cluster} CA would be created" for m in minion_ids}
        return _report(cluster, lines, {}, test)
    lines, failures = {}, {}
    with _client() as client:
        replies = client.cmd(
            minion_ids,
            "pgsalt_tls.request",
            kwarg={
                "ca_pem": ca[1].public_bytes(serialization.Encoding.PEM).decode(),
                "network": network or None,
                "renew_days": int(renew_days),
                "exclude": list(exclude or []),
            },
            tgt_type="list",
            timeout=timeout,
            full_return=True,
        )
        for minion in minion_ids:
            try:
                answer = _answer(replies, minion, "pgsalt_tls.request", timeout)
                lines[minion] = _issue_one(client, cluster, ca, minion, answer, opts)
            except Refused as exc:
                log.warning("pgsalt %s CA, %s: %s", cluster, minion, exc)
                failures[minion] = str(exc)
                lines[minion] = f"failed: {exc}"
    return _report(cluster, lines, failures, test)
