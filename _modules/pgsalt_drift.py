"""Drift detection: the host's highstate in test mode, run by the minion's scheduler
(schedule pgsalt-drift, set by the pgsalt.heal state when heal:drift:interval is on)."""

import os

__virtualname__ = "pgsalt_drift"


def __virtual__():
    return __virtualname__


def drifted(states):
    """The ids of the states in a test-mode highstate return that would change something."""
    return sorted(st.get("__id__", sid) for sid, st in states.items()
                  if isinstance(st, dict) and (st.get("result") is None or st.get("changes")))


def check(cluster=None):
    """Run the highstate with test=True; when states would change, fire the event
    ``pgsalt/drift/<minion>`` with their ids (never their changes, which may hold secrets).

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_drift.check cluster=demo
    """
    if __salt__["saltutil.is_running"]("state.*"):
        return {"skipped": "a state run is in progress"}
    states = __salt__["state.highstate"](test=True)
    if not isinstance(states, dict):
        return {"skipped": states}
    found = drifted(states)
    _metric(len(found))
    if found:
        me = __grains__["id"]
        __salt__["event.send"](f"pgsalt/drift/{me}",
                               {"id": me, "cluster": cluster, "states": found})
    return {"drift": found}


def _metric(count):
    """Drift as a metric for Prometheus, where node_exporter reads textfiles: how many
    states would change, and when the check ran."""
    path = __salt__["pgsalt_monitoring.textfile"]("pgsalt_drift")
    if not os.path.isdir(os.path.dirname(path)):  # no monitoring on this host
        return
    with open(f"{path}.tmp", "w", encoding="utf-8") as handle:
        handle.write("# HELP pgsalt_drift_states States a test-mode highstate would change.\n"
                     f"# TYPE pgsalt_drift_states gauge\npgsalt_drift_states {count}\n")
    os.chmod(f"{path}.tmp", 0o644)
    os.replace(f"{path}.tmp", path)
