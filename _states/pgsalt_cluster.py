"""Cluster-wide day-2 states, run by the Salt master in orchestrations (orch.switchover,
orch.failover, orch.config). They reach the hosts through ``saltutil.cmd``; the steps and
their order live in ``pgsalt_ops``.

``db`` and ``balancers`` are the cluster's minion ids as the orchestration's plan lists them.
"""

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_cluster"


def __virtual__():
    if "saltutil.cmd" not in __salt__:
        return False, "pgsalt_cluster runs on the Salt master (state.orchestrate)"
    return __virtualname__


def _ops():
    return __utils__["pgsalt_ops.remote"](__salt__["saltutil.cmd"]), __utils__


def _ret(name):
    return {"name": name, "result": False, "changes": {}, "comment": ""}


def _fail(ret, exc):
    ret["comment"] = str(exc)
    return ret


def switched_over(name, db, balancers=(), candidate=None, pause_pooler=False,
                  pause_timeout=10, timeout=60):
    """Switch cluster NAME's leader role to CANDIDATE (or the healthiest replica) and make
    the balancers route writes to it. PAUSE_POOLER holds PgBouncer's clients meanwhile.

    With a CANDIDATE that leads already, nothing changes (a re-run is safe).
    """
    ret = _ret(name)
    remote, utils = _ops()
    try:
        topo = utils["pgsalt_ops.topology"](remote, db)
        leader = topo["leader"]
        if candidate and candidate == leader:
            ret.update(result=True, comment=f"{candidate} is the leader already")
            return ret
        target = candidate or utils["pgsalt_ops.healthiest"](topo, exclude=(leader,))
        problem = ("the cluster has no leader: use orch.failover" if leader is None else
                   "no replica is healthy enough to take over" if target is None else
                   utils["pgsalt_ops.check_candidate"](topo, target))
        if problem:
            ret["comment"] = f"{name}: switchover refused: {problem}"
            return ret
        ret["changes"] = {"old": {"leader": leader}, "new": {"leader": target}}
        pause = f"pause PgBouncer on {', '.join(balancers)}, " if pause_pooler else ""
        steps = (f"{pause}switch over {leader} -> {target}, route HAProxy on "
                 f"{', '.join(balancers) or 'no balancer'} to {target}"
                 + (", resume PgBouncer" if pause_pooler else ""))
        if __opts__["test"]:
            ret.update(result=None, comment=f"Would {steps}")
            return ret
        report = utils["pgsalt_ops.switchover"](
            remote, db, balancers, target, pause_pooler, pause_timeout, timeout, topo)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    ret["changes"]["new"].update(report)
    ret.update(result=True, comment=f"Switched over {leader} -> {target}: {steps}")
    return ret


def failed_over(name, db, balancers=(), candidate=None, timeout=60):
    """Make CANDIDATE (or the healthiest replica) the leader of cluster NAME, with or
    without a leader: for when the leader is gone and Patroni does not elect one itself
    (paused cluster, lag above maximum_lag_on_failover, nofailover tags)."""
    ret = _ret(name)
    remote, utils = _ops()
    try:
        topo = utils["pgsalt_ops.topology"](remote, db)
        if candidate and topo["leader"] == candidate:
            ret.update(result=True, comment=f"{candidate} is the leader already")
            return ret
        if __opts__["test"]:
            target = candidate or utils["pgsalt_ops.healthiest"](topo, (topo["leader"],))
            ret.update(result=None, comment=f"Would fail over to {target} (leader now: "
                       f"{topo['leader'] or 'none'}) and route HAProxy to it",
                       changes={"old": {"leader": topo["leader"]}, "new": {"leader": target}})
            return ret
        report = utils["pgsalt_ops.failover"](remote, db, balancers, candidate, timeout)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    ret.update(result=True, comment=f"Failed over to {report['new_leader']}",
               changes={"old": {"leader": report["old_leader"]},
                        "new": {"leader": report["new_leader"]}})
    return ret


def restarted(name, db, balancers=(), pending_only=True, pause_pooler=True, timeout=180,
              pause_timeout=10):
    """Roll PostgreSQL restarts through cluster NAME: the replicas that need one, one at a
    time, each streaming again before the next; then a switchover (PgBouncer paused with
    PAUSE_POOLER) when the leader needs one. Nothing restarts when nothing is pending."""
    ret = _ret(name)
    remote, utils = _ops()
    try:
        plan = utils["pgsalt_ops.restart_plan"](utils["pgsalt_ops.topology"](remote, db),
                                                pending_only)
        order = plan["replicas"] + ([f"{plan['leader']} (after a switchover)"]
                                    if plan["leader"] else [])
        if not order:
            ret.update(result=True, comment="No member needs a restart")
            return ret
        ret["changes"] = {"old": {"pending_restart": order}, "new": {"pending_restart": []}}
        if __opts__["test"]:
            ret.update(result=None, comment=f"Would restart, in order: {', '.join(order)}")
            return ret
        report = utils["pgsalt_ops.rolling_restart"](remote, db, balancers, pending_only,
                                                     pause_pooler, timeout, pause_timeout)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    ret["changes"]["new"].update(report)
    ret.update(result=True, comment=f"Restarted, in order: {', '.join(report['restarted'])}")
    return ret


def settled(name, db):
    """Wait one Patroni loop (loop_wait + 2 s): every member then runs with a dynamic
    configuration just changed, and flags what needs a restart. Changes nothing."""
    ret = _ret(name)
    remote, _ = _ops()
    try:
        config = remote.one(db[0], "pgsalt_patroni.get_config", step="read the configuration")
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    wait = int(config.get("loop_wait", 10)) + 2
    if __opts__["test"]:
        ret.update(result=None, comment=f"Would wait {wait}s for every member to apply it")
        return ret
    remote.sleep(wait)
    ret.update(result=True, comment=f"Waited {wait}s for every member to apply it")
    return ret
