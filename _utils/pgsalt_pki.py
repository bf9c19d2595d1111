"""File and key helpers shared by pgsalt's TLS module (minion) and its CA runner (master).

``_modules/pgsalt_tls.py`` keeps a host's key and certificates, ``_runners/pgsalt_ca.py``
a cluster's CA: both read files that may be missing, write keys that a second run must
never replace, and compare public keys.

Standard library, cryptography and Salt's exceptions only, and no Salt dunders, so that
Salt loads it as a utils module on the minions and on the master
(``__utils__['pgsalt_pki.load_key'](...)``) and tests can import it directly.
"""

import os
import tempfile

from salt.exceptions import CommandExecutionError

try:
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
except ImportError:
    # pgsalt_tls and pgsalt_ca refuse to load without cryptography (their __virtual__),
    # so nothing calls the functions that need it; the file helpers still load.
    serialization = ec = x509 = None

# Salt's loader publishes every function listed here and nothing else.
__all__ = ["iso", "ensure_dir", "read", "replace", "create_exclusive", "load_key",
           "create_key", "spki", "load_ca", "own_ca_errors"]


def iso(moment):
    """A timestamp as pgsalt_tls and pgsalt_ca return it: '2027-05-01T09:30:00+00:00'.

    The same on both sides, so that the runner's record and the host's answers agree.
    """
    return moment.isoformat(timespec="seconds")


def ensure_dir(path, mode):
    """Create PATH (and its parents) with MODE unless it exists."""
    if not os.path.isdir(path):
        os.makedirs(path, mode, exist_ok=True)
        # makedirs' mode is narrowed by the umask; set what was asked for.
        os.chmod(path, mode)


def read(path):
    """The bytes of PATH, or None when it does not exist."""
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _temp_file(path, data, mode):
    """Write DATA (synced) to a new temporary file with MODE next to PATH; return its name."""
    # mkstemp creates the file 0600, so a key is never readable by others, not even briefly.
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        os.unlink(tmp)
        raise
    return tmp


def replace(path, data, mode):
    """Atomically replace PATH with DATA (MODE): readers see the old file or the new one."""
    os.replace(_temp_file(path, data, mode), path)


def create_exclusive(path, data, mode):
    """Write DATA (MODE) to PATH only if PATH does not exist; True when this call created it."""
    tmp = _temp_file(path, data, mode)
    try:
        # Complete file first, then link: link, unlike rename, fails on an existing PATH,
        # so two runs at once never overwrite each other and no reader sees half a file.
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def load_key(path):
    """The PEM private key at PATH, or None when there is none."""
    data = read(path)
    if data is None:
        return None
    try:
        return serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        # The cause only: the message must not carry any of the key's bytes.
        raise CommandExecutionError(f"{path} is not a usable private key") from exc


def create_key(path, curve):
    """Make an EC key on CURVE and write it to PATH (PKCS#8 PEM, 0600) unless PATH exists.

    Returns ``(key, True)`` when this call wrote it. A run that lost the race to another
    gets ``(that run's key, False)``: a key, once written, is never replaced, since
    certificates and CSRs may already have been made from it.
    """
    key = ec.generate_private_key(curve)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    if create_exclusive(path, pem, 0o600):
        return key, True
    return load_key(path), False


def spki(public_key):
    """DER SubjectPublicKeyInfo, to compare public keys of any type."""
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class CAFileError(CommandExecutionError):
    """A file of an own CA that is wrong; ``which`` says whether the cert or the key."""

    def __init__(self, which, message):
        super().__init__(message)
        self.which = which


def load_ca(cert_path, key_path):
    """A CA of the operator's own as (key, certificate), from files on the master.

    Raises CommandExecutionError saying which file is wrong: missing, not PEM, not a CA
    certificate, or a key that is not the certificate's.
    """
    data = read(cert_path)
    if data is None:
        raise CAFileError("cert", f"{cert_path} is missing or unreadable")
    try:
        cert = x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        raise CAFileError("cert", f"{cert_path} is not a PEM certificate") from exc
    try:
        is_ca = cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise CAFileError("cert", f"{cert_path} is not a CA certificate (basicConstraints)")
    try:
        key = load_key(key_path)
    except CommandExecutionError as exc:
        raise CAFileError("key", str(exc)) from exc
    if key is None:
        raise CAFileError("key", f"{key_path} is missing or unreadable")
    if spki(key.public_key()) != spki(cert.public_key()):
        raise CAFileError("key", f"{key_path} does not match the certificate {cert_path}")
    return key, cert


def own_ca_errors(plan):
    """The refusals of a plan's own CA (``plan["tls"]["own_ca"]``), each naming its
    pillar key; empty without one. Checked on the master, where the files are."""
    own = (plan.get("tls") or {}).get("own_ca")
    if not own:
        return []
    here = f"pgsalt:clusters:{own['cluster']}:tls:own_ca"
    try:
        load_ca(own["cert"], own["key"])
    except CAFileError as exc:
        return [f"{here}:{exc.which}: {exc}; expected a CA certificate and its key on the Salt "
                "master"]
    return []
