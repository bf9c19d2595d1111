"""Where the test bed keeps things, and the numbers that describe it."""

import os
import pathlib

REPO = pathlib.Path(__file__).resolve().parents[3]
VENV = pathlib.Path(os.environ.get("TB_VENV", REPO / ".venv"))
STATE = pathlib.Path(os.environ.get("TB_STATE", "/var/lib/pgsalt-bed"))
CACHE = pathlib.Path(os.environ.get("TB_CACHE", "/var/cache/pgsalt-bed"))

BRIDGE = "pgsbr0"
NET_PREFIX = "10.77.0"
GATEWAY = f"{NET_PREFIX}.1"  # the machine itself on the bridge: master and proxies
PREFIXLEN = 24
# Not apt-cacher-ng's default port: a machine may run its own on 3142.
PROXY_PORT = 3149
CGROUP_GROUP = "pgsalt-bed"

SALT_VERSION = "3008.4"
MIRROR = "http://deb.debian.org/debian"
RELEASES = {
    "debian-13": {"suite": "trixie", "security": "trixie-security"},
    "debian-12": {"suite": "bookworm", "security": "bookworm-security"},
}
DEFAULT_OS = "debian-13"
BASE_PACKAGES = "systemd,systemd-sysv,dbus,iproute2,python3,python3-venv,ca-certificates,procps"
# The machine's CA bundle, seen inside hosts: PyPI is reached through a TLS-intercepting path.
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"
GUEST_CA = "/usr/local/share/bed-ca.crt"


def address(name, taken=()):
    """pgN gets .10+N; any other name gets the first free address from .100."""
    if name.startswith("pg") and name[2:].isdigit() and 0 < int(name[2:]) < 90:
        return f"{NET_PREFIX}.{10 + int(name[2:])}"
    for last in range(100, 250):
        candidate = f"{NET_PREFIX}.{last}"
        if candidate not in taken:
            return candidate
    raise RuntimeError("the bed's /24 is full")
