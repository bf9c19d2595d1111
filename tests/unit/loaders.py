"""Helpers shared by the unit tests of the pgsalt execution module, states, runner and templates.

``_modules/``, ``_states/`` and ``_runners/`` each hold a ``pgsalt.py``: every test file loads
the one it tests by path, under a name of its own, so that no two share module globals.
"""

import datetime
import importlib.util
import pathlib
import sys
from unittest.mock import MagicMock

import pgsalt_model
import pgsalt_pki
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPONENTS = ("pgsalt", "etcd", "postgresql", "patroni", "pgbouncer", "haproxy", "pgbackrest",
              "keepalived", "monitoring")
# Mine data as network.ip_addrs returns it on the bed (pgN is 10.77.0.(10+N)): a NAT address
# first, the bed's second, so that picking the address inside the cluster's network is exercised.
ADDRESSES = {
    f"pg{i}": [f"192.168.100.{i}", f"10.77.0.{10 + i}"] for i in (1, 2, 3, 4, 5, 6, 11, 12, 13, 14)
}
DEMO = {"pg1": "10.77.0.11", "pg2": "10.77.0.12", "pg3": "10.77.0.13", "pg4": "10.77.0.14"}
DB = {mid: addr for mid, addr in DEMO.items() if mid != "pg4"}  # pg4 is the repository host
KNOWN_MINIONS = ["pg1", "pg2", "pg3", "pg4", "pg5", "pg6", "pg11", "pg12", "pg13", "pg14"]


def load(name, relpath):
    """Load the Python file at RELPATH (from the repo root) as a new module named NAME.

    _modules and _states hold files of the same name, so each is loaded under its own.
    """
    spec = importlib.util.spec_from_file_location(name, ROOT / relpath)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_yaml(relpath):
    return yaml.safe_load((ROOT / relpath).read_text(encoding="utf-8"))


def defaults():
    """Every component's defaults.yaml, keyed as salt/pgsalt/map.jinja passes them."""
    return {name: load_yaml(f"salt/{name}/defaults.yaml") for name in COMPONENTS}


def shipped_pillar():
    """The pillar the shipped pillar/top.sls gives every minion (its ``base: '*'`` SLS files)."""
    pillar = {}
    for sls in load_yaml("pillar/top.sls")["base"]["*"]:
        pillar = pgsalt_model.merge(pillar, load_yaml(f"pillar/{sls.replace('.', '/')}.sls"))
    return pillar


def cluster_names():
    return sorted(shipped_pillar()["pgsalt"]["clusters"])


def passwords(pillar):
    """Every secret in pillar's clusters: users' and roles' passwords, the repository's
    cipher passphrase, the VRRP password of the virtual IP."""
    found = []
    for cluster in pillar["pgsalt"]["clusters"].values():
        for section in ("users", "roles"):
            for spec in (cluster.get(section) or {}).values():
                if isinstance(spec, dict) and isinstance(spec.get("password"), str):
                    found.append(spec["password"])
        for secret in ((cluster.get("pgbackrest") or {}).get("passphrase"),
                       (cluster.get("vip") or {}).get("password")):
            if isinstance(secret, str):
                found.append(secret)
    return found


def _published(module):
    """What Salt's loader puts in ``__utils__`` for a utils module: each name in its ``__all__``."""
    return {f"{module.__name__}.{name}": getattr(module, name) for name in module.__all__}


def model_utils():
    """``__utils__`` as Salt's loader builds it from _utils/pgsalt_model.py (its ``__all__``)."""
    return _published(pgsalt_model)


def pki_utils():
    """``__utils__`` as Salt's loader builds it from _utils/pgsalt_pki.py (its ``__all__``)."""
    return _published(pgsalt_pki)


def cache_file(url, saltenv="base"):
    """``cp.cache_file`` of the bed's minions for the formula's files: the file's path."""
    assert url.startswith("salt://") and saltenv == "base"
    path = ROOT / "salt" / url[len("salt://"):]
    return str(path) if path.is_file() else ""


def minion_globals(minion="pg2", osfinger="Debian-13", pillar=None, addresses=None):
    """The loader globals of the pgsalt execution module on minion MINION."""
    addresses = ADDRESSES if addresses is None else addresses
    return {
        "__pillar__": shipped_pillar() if pillar is None else pillar,
        "__grains__": {"id": minion, "osfinger": osfinger},
        "__salt__": {
            "mine.get": MagicMock(return_value=dict(addresses)),
            "network.ip_addrs": MagicMock(return_value=list(addresses.get(minion, []))),
            "cp.cache_file": cache_file,
        },
        "__utils__": {**model_utils(), **pki_utils()},
        "__opts__": {"id": minion},
        "__context__": {},
    }


def own_ca(directory, name="Operator CA", ca=True):
    """A CA of the operator's own, written to DIRECTORY (ca.crt, ca.key): its paths as
    ``tls:own_ca`` names them. Self-signed, CN=NAME, a CA by basicConstraints unless CA
    is false; like many a CA made by hand, it has no SubjectKeyIdentifier."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "ca.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ))
    return {"cert": str(directory / "ca.crt"), "key": str(directory / "ca.key")}


class FakeClock:
    """Stands in for a module's ``time``: sleeping moves the clock on."""

    def __init__(self):
        self.now = 1000.0
        self.sleeps = []

    def monotonic(self):
        return self.now

    def sleep(self, seconds):
        self.sleeps.append(seconds)
        self.now += seconds


def run_result(stdout="", stderr="", retcode=0):
    """What Salt's cmd.run_all returns."""
    return {"pid": 4242, "retcode": retcode, "stdout": stdout, "stderr": stderr}
