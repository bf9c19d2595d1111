"""
A service serves the host's current certificate, through the ``pgsalt_tls`` module.

A renewed certificate may land in one orchestration step and the service that
uses it run in another, so a ``watch`` on the file misses it. This state asks
the running service which certificate it presents and reloads it when that is
not the one in the file.

.. code-block:: yaml

    patroni-serves-current-certificate:
      pgsalt_tls.serving:
        - name: patroni
        - cert: /etc/pgsalt/tls/host.crt
        - endpoints:
          - {address: 10.77.0.11, port: 8008}
          - {address: 127.0.0.1, port: 5432, starttls: postgres}
"""

import os
import time

__virtualname__ = "pgsalt_tls"

# How often a reloaded service is asked again.
_INTERVAL = 1


def __virtual__():
    return __virtualname__


def _stale(endpoints, cert):
    """The endpoints that present another certificate than CERT: {label: serial}."""
    stale, serial = {}, None
    for ep in endpoints:
        address = ep.get("address", "127.0.0.1")
        found = __salt__["pgsalt_tls.serving"](
            ep["port"], address=address, starttls=ep.get("starttls"), cert_path=cert)
        serial = found["file"]
        # Nothing answering is the service state's business, not a certificate to reload.
        if found["serving"] is not None and not found["current"]:
            stale[f"{address}:{ep['port']}"] = found["serving"]
    return stale, serial


def serving(name, cert, endpoints, timeout=30):
    """
    Reload service NAME when an endpoint (``{address, port, starttls}``) presents
    another certificate than CERT, and wait until all present CERT's.
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_tls.serving", "cryptography")
    if missing:
        return missing
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    if not os.path.exists(cert):
        # A dry run on a bare host: the certificate is issued by the real run only.
        ret.update(result=None if __opts__["test"] else True,
                   comment=f"no certificate at {cert} yet: nothing to compare")
        return ret
    stale, serial = _stale(endpoints, cert)
    if not stale:
        ret["comment"] = f"{name} serves certificate {serial}"
        return ret
    ret["changes"] = {"old": stale, "new": {label: serial for label in stale}}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{name} would be reloaded to serve certificate {serial}"
        return ret
    __salt__["service.reload"](name)
    deadline = time.monotonic() + timeout
    while stale and time.monotonic() < deadline:
        time.sleep(_INTERVAL)
        stale, _ = _stale(endpoints, cert)
    if stale:
        ret["result"] = False
        ret["comment"] = (f"{name} was reloaded but still serves another certificate than "
                          f"{serial} at {', '.join(sorted(stale))} after {timeout}s")
    else:
        ret["comment"] = f"{name} reloaded: serves certificate {serial}"
    return ret
