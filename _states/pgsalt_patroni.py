"""
States for a Patroni member, driven through the ``pgsalt_patroni`` execution
module (Patroni REST API).

.. code-block:: yaml

    patroni-ready:
      pgsalt_patroni.ready:
        - timeout: 180
        - require:
          - service: patroni

    patroni-dynamic-config:
      pgsalt_patroni.dynamic_config:
        - config:
            ttl: 30
            loop_wait: 10
            postgresql:
              parameters:
                max_connections: 200
                shared_buffers: 128MB
        - require:
          - pgsalt_patroni: patroni-ready

Both states take optional ``url`` and ``config_file`` that are passed on to
the execution module.
"""

import time

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_patroni"

_TRUE = ("on", "true", "yes", "1")
_FALSE = ("off", "false", "no", "0")
# Patroni may serve GET /config from the DCS view it cached on its last loop:
# give a fresh PATCH a little time to show up.
_VERIFY_TRIES = 10
_VERIFY_INTERVAL = 1


def __virtual__():
    if "pgsalt_patroni.is_ready" in __salt__:
        return __virtualname__
    return (False, "the pgsalt_patroni execution module is not available")


def _conn(url, config_file):
    kwargs = {}
    if url:
        kwargs["url"] = url
    if config_file:
        kwargs["config_file"] = config_file
    return kwargs


# --------------------------------------------------------------------------
# ready
# --------------------------------------------------------------------------


def ready(name, timeout=180, service="patroni", url=None, config_file=None):
    """
    Wait until the local Patroni member is ready in its role: running and
    holding the leader lock, or a replica that is streaming. This state only
    gates; start the service with ``service.running`` before it.

    name
        An ID only.

    timeout
        Seconds to wait for the member to become ready.

    service
        The systemd unit that runs Patroni; when it is not running the state fails at
        once. Empty to skip that check.
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    conn = _conn(url, config_file)
    try:
        before = __salt__["pgsalt_patroni.is_ready"](**conn)
    except CommandExecutionError as exc:
        if __opts__["test"]:
            # A dry run on a host whose Patroni is not configured yet.
            ret["result"] = None
            ret["comment"] = f"would wait up to {timeout}s for Patroni to be ready ({exc})"
        else:
            ret["comment"] = str(exc)
        return ret

    if before.get("ready"):
        ret["result"] = True
        ret["comment"] = f"Patroni member is ready as {before.get('role')}"
        return ret

    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = (
            f"Patroni member is not ready yet ({before.get('reason')}); "
            f"would wait for it to become ready for up to {timeout}s"
        )
        ret["changes"] = {
            "old": {"state": before.get("state")},
            "new": {"state": "running"},
        }
        return ret

    # Wait in short slices so that a Patroni that keeps crashing fails the state at once
    # instead of after the whole timeout.
    deadline = time.monotonic() + timeout
    while True:
        left = max(1, min(10, int(deadline - time.monotonic())))
        try:
            # A replica that just joined needs the leader to create its slot: woken, the
            # leader does so at once rather than after loop_wait.
            after = __salt__["pgsalt_patroni.wait_ready"](timeout=left, wake=True, **conn)
        except CommandExecutionError as exc:
            ret["comment"] = str(exc)
            return ret
        if after.get("ready") or time.monotonic() >= deadline:
            break
        if service and not __salt__["service.status"](service):
            ret["comment"] = (f"the {service} service is not running "
                              f"(see journalctl -u {service}): {after.get('reason')}")
            return ret

    if after.get("ready"):
        ret["result"] = True
        ret["comment"] = f"Patroni member became ready as {after.get('role')}"
        ret["changes"] = {
            "old": {"state": before.get("state")},
            "new": {"role": after.get("role"), "state": after.get("state")},
        }
    else:
        ret["comment"] = f"Patroni member did not become ready: {after.get('reason')}"
    return ret


# --------------------------------------------------------------------------
# dynamic_config
# --------------------------------------------------------------------------


def _as_bool(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return {1: True, 0: False}.get(value)
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    return None


def _as_number(value):
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _same(current, wanted):
    """Loose equality: 128 == '128', True == 'on', lists item by item."""
    if isinstance(current, list) and isinstance(wanted, list):
        return len(current) == len(wanted) and all(map(_same, current, wanted))
    if isinstance(current, (dict, list)) or isinstance(wanted, (dict, list)):
        return current == wanted
    if isinstance(current, bool) or isinstance(wanted, bool):
        have, want = _as_bool(current), _as_bool(wanted)
        return have is not None and have == want
    if isinstance(current, str) and isinstance(wanted, str):
        return current.strip() == wanted.strip()
    if isinstance(current, str) or isinstance(wanted, str):
        have, want = _as_number(current), _as_number(wanted)
        if have is not None and want is not None:
            return have == want
        return str(current).strip() == str(wanted).strip()
    return current == wanted


def _diff(current, wanted):
    """
    Leaf keys of ``wanted`` whose value differs in ``current``.

    Returns ``(old, new)``, two nested dicts with the same keys: the current
    values (None when missing) and the wanted ones. A wanted None means the
    key must be absent.
    """
    current = current if isinstance(current, dict) else {}
    old, new = {}, {}
    for key, want in wanted.items():
        present = key in current
        have = current.get(key)
        if isinstance(want, dict):
            sub_old, sub_new = _diff(have, want)
            if sub_new:
                old[key] = sub_old if isinstance(have, dict) or have is None else have
                new[key] = sub_new
        elif want is None:
            if present and have is not None:
                old[key], new[key] = have, None
        elif not present or not _same(have, want):
            old[key], new[key] = have, want
    return old, new


def _leaves(tree, prefix=""):
    for key, value in tree.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            yield from _leaves(value, path + ".")
        else:
            yield path


def _pending_restart_note(conn):
    try:
        topology = __salt__["pgsalt_patroni.cluster"](**conn)
    except CommandExecutionError:
        return ""
    members = topology.get("members") if isinstance(topology, dict) else None
    if not isinstance(members, list):
        return ""
    pending = sorted(
        str(m.get("name")) for m in members if isinstance(m, dict) and m.get("pending_restart")
    )
    if pending:
        return " Members pending restart: " + ", ".join(pending) + "."
    return " No member reports pending_restart."


def dynamic_config(name, config, url=None, config_file=None):
    """
    Make Patroni's dynamic configuration (the one in the DCS, GET /config)
    contain ``config``. Only keys given in ``config`` matter; others are left
    alone. Values compare loosely (``128`` equals ``'128'``, ``True`` equals
    ``'on'``); a None value means the key must be absent.

    name
        An ID only.

    config
        Nested dict, e.g. ``{'ttl': 30, 'postgresql': {'parameters': {...}}}``.

    The comment says whether any member reports pending_restart afterwards.
    Patroni applies a new configuration on its next loop, so a parameter that
    needs a restart may only show up as pending a little later.
    """
    ret = {"name": name, "result": False, "changes": {}, "comment": ""}
    if not isinstance(config, dict):
        ret["comment"] = "config must be a dict"
        return ret
    conn = _conn(url, config_file)

    try:
        current = __salt__["pgsalt_patroni.get_config"](**conn)
    except CommandExecutionError as exc:
        ret["comment"] = f"Cannot read Patroni dynamic configuration: {exc}"
        return ret

    old, new = _diff(current, config)
    if not new:
        ret["result"] = True
        note = _pending_restart_note(conn)
        ret["comment"] = f"Patroni dynamic configuration is already as wanted.{note}"
        return ret

    keys = ", ".join(_leaves(new))
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"old": old, "new": new}
        ret["comment"] = f"Would patch Patroni dynamic configuration: {keys}"
        return ret

    try:
        __salt__["pgsalt_patroni.patch_config"](new, **conn)
    except CommandExecutionError as exc:
        ret["comment"] = f"Patroni refused the configuration patch ({keys}): {exc}"
        return ret

    remaining = new
    for attempt in range(_VERIFY_TRIES):
        try:
            after = __salt__["pgsalt_patroni.get_config"](**conn)
        except CommandExecutionError as exc:
            ret["comment"] = f"Patched {keys} but cannot read the configuration back: {exc}"
            return ret
        _, remaining = _diff(after, config)
        if not remaining:
            break
        if attempt + 1 < _VERIFY_TRIES:
            time.sleep(_VERIFY_INTERVAL)

    if remaining:
        still = ", ".join(_leaves(remaining))
        ret["comment"] = f"Patroni accepted the patch but these keys still differ: {still}"
        return ret

    ret["result"] = True
    ret["changes"] = {"old": old, "new": new}
    note = _pending_restart_note(conn)
    ret["comment"] = f"Patched Patroni dynamic configuration: {keys}.{note}"
    return ret
