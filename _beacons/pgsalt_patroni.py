"""Report what changes in the local Patroni member, for the reactor (orch.heal).

It reads Patroni's REST API through ``pgsalt_patroni`` (same address, TLS and
credentials as the formula's other calls) and fires an event when the member's role,
PostgreSQL state, timeline, replication, lag or pending restart changes, and on its first
look when something is wrong already.

.. code-block:: yaml

    beacons:
      pgsalt_patroni:
        - cluster: demo
        - max_lag: 16777216
        - interval: 5

Events: ``salt/beacon/<minion>/pgsalt_patroni/<what>`` with ``what`` one of ``role``,
``not_running``, ``replication_stopped``, ``lag``, ``pending_restart``, ``timeline`` or
``changed``; data ``{cluster, member: {...}, changes: {key: [old, new]}}``.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_patroni"

REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")
# The first change that fits names the event; order is by what a DBA must see first.
PROBLEMS = (("not_running", "running", False), ("replication_stopped", "streaming", False),
            ("lag", "lag_exceeded", True), ("pending_restart", "pending_restart", True))


def __virtual__():
    return __virtualname__


def _config(config):
    merged = {}
    for item in config if isinstance(config, list) else [config]:
        merged.update(item if isinstance(item, dict) else {})
    return merged


def validate(config):
    settings = _config(config)
    if not isinstance(settings.get("cluster"), str):
        return False, "pgsalt_patroni beacon: cluster (the cluster's name) is required"
    lag = settings.get("max_lag", 0)
    if not isinstance(lag, int) or isinstance(lag, bool) or lag < 0:
        return False, "pgsalt_patroni beacon: max_lag must be a number of bytes"
    return True, "valid"


def look(max_lag):
    """What the local member is now: role, state, timeline, running, streaming,
    lag_exceeded, pending_restart (None values when Patroni does not answer)."""
    try:
        me = __salt__["pgsalt_patroni.member"]()
    except CommandExecutionError:
        return {"role": None, "state": "unreachable", "timeline": None, "running": False,
                "streaming": None, "lag_exceeded": None, "pending_restart": None}
    role = me.get("role")
    replica = role in REPLICA_ROLES
    streaming = None
    lag_exceeded = None
    if replica:
        streaming = me.get("replication_state", "streaming") == "streaming"
        if max_lag:
            lag_exceeded = _lag(me.get("patroni", {}).get("name")) > max_lag
    return {"role": role, "state": me.get("state"), "timeline": me.get("timeline"),
            "running": me.get("state") == "running", "streaming": streaming,
            "lag_exceeded": lag_exceeded, "pending_restart": bool(me.get("pending_restart"))}


def _lag(name):
    try:
        members = __salt__["pgsalt_patroni.cluster"]().get("members") or []
    except CommandExecutionError:
        return 0
    lag = next((m.get("lag") for m in members if m.get("name") == name), 0)
    return lag if isinstance(lag, int) else 0


def _what(changes, now):
    for what, key, bad in PROBLEMS:
        if key in changes and now[key] is bad:
            return what
    for key in ("role", "timeline"):
        if key in changes:
            return key
    return "changed"


def _unhealthy(now):
    return any(now[key] is bad for _, key, bad in PROBLEMS)


def beacon(config):
    settings = _config(config)
    now = look(settings.get("max_lag", 0))
    before = __context__.get("pgsalt_patroni.last")
    __context__["pgsalt_patroni.last"] = now
    if before is None:
        if not _unhealthy(now):
            return []
        changes = {key: [None, value] for key, value in now.items()}
    else:
        changes = {key: [before[key], value] for key, value in now.items()
                   if before.get(key) != value}
        if not changes:
            return []
    return [{"tag": _what(changes, now), "cluster": settings["cluster"], "member": now,
             "changes": changes}]
