"""Cluster-wide day-2 states, run by the Salt master in orchestrations (orch.switchover,
orch.failover, orch.config). They reach the hosts through ``saltutil.cmd``; the steps and
their order live in ``pgsalt_ops``.

``db`` and ``balancers`` are the cluster's minion ids as the orchestration's plan lists them.
"""

import os

import salt.utils.event
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


def _fail(ret, exc, changes=None):
    """A failed step: the comment names the host and the step; CHANGES are only what was
    done before it (nothing claimed that did not happen)."""
    ret.update(comment=str(exc), changes=changes or {})
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
        target = utils["pgsalt_ops.switch_candidate"](topo, db, candidate)
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
            target = utils["pgsalt_ops.failover_candidate"](topo, db, candidate)
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
        if plan["leader_first"]:
            order = [f"{plan['leader']} (in place: a lowered setting reaches the replicas "
                     "through it)"] + plan["replicas"]
        else:
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


def member_gone(name, db, timeout=60):
    """Wait until Patroni no longer lists member NAME (its key in the DCS is gone once it
    stopped and its session expired). DB: the remaining db hosts, asked in turn."""
    ret = _ret(name)
    remote, utils = _ops()
    deadline = remote.clock() + timeout
    try:
        while name in utils["pgsalt_ops.topology"](remote, db)["members"]:
            if __opts__["test"]:
                ret.update(result=None, comment=f"Would wait until Patroni drops {name}",
                           changes={"old": {"member": name}, "new": {"member": None}})
                return ret
            if remote.clock() > deadline:
                ret["comment"] = f"Patroni still lists {name} after {timeout}s"
                return ret
            ret["changes"] = {"old": {"member": name}, "new": {"member": None}}
            remote.sleep(1)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    ret.update(result=True, comment=f"Patroni does not list {name}")
    return ret


def _upgrade_changes(report):
    hosts = (report or {}).get("hosts") or {}
    if not any(r["packages"] for r in hosts.values()):
        return {}
    return {key: {h: {p: v.get(key) for p, v in r["packages"].items()}
                  for h, r in hosts.items() if r["packages"]} for key in ("old", "new")}


def _order(plan):
    return plan["others"] + plan["replicas"] + (
        [f"{plan['leader']} (after a switchover)"] if plan["leader"] else [])


def upgraded(name, db, balancers=(), hosts=(), pause_pooler=True, timeout=300,
             pause_timeout=10):
    """Update the formula's packages on HOSTS of cluster NAME to apt's candidate versions
    (minor upgrades), one host at a time, each checked before the next: the hosts that are
    no db member, the replicas, then a switchover away from the leader and the old leader.
    A balancer's PgBouncer is paused while HAProxy updates (PAUSE_POOLER), PostgreSQL
    restarts where it runs an older binary. Nothing changes when nothing is pending.
    """
    ret = _ret(name)
    remote, utils = _ops()
    hosts = list(hosts) or sorted(set(db) | set(balancers))
    try:
        if __opts__["test"]:
            _, found, plan = utils["pgsalt_ops.upgrade_survey"](remote, db, hosts)
            pending = {host: info["pending"] for host, info in found.items() if info["pending"]}
            if pending:
                ret["changes"] = {
                    "old": {h: {p: v["installed"] for p, v in pkgs.items()}
                            for h, pkgs in pending.items()},
                    "new": {h: {p: v["candidate"] for p, v in pkgs.items()}
                            for h, pkgs in pending.items()}}
                ret.update(result=None,
                           comment=f"Would update, in order: {', '.join(_order(plan))}")
            else:
                ret.update(result=True, comment="No package of the formula has an update")
            return ret
        report = utils["pgsalt_ops.rolling_upgrade"](remote, db, balancers, hosts,
                                                     pause_pooler, timeout, pause_timeout)
    except CommandExecutionError as exc:
        # The hosts updated before the failure stay updated: say so.
        return _fail(ret, exc, _upgrade_changes(getattr(exc, "report", None)))
    if not report["hosts"]:
        ret.update(result=True, comment="No package of the formula has an update")
        return ret
    ret["changes"] = _upgrade_changes(report)
    restarted = [h for h, r in report["hosts"].items() if r["postgres_restarted"]]
    notes = [f"{h}: {note}" for h, r in report["hosts"].items() for note in r["notes"]]
    switched = report["switchover"]
    ret.update(result=True, comment="; ".join(
        [f"Updated, in order: {', '.join(report['order'])}"]
        + ([f"switched over {switched['old_leader']} -> {switched['new_leader']}"]
           if switched else [])
        + ([f"PostgreSQL restarted on {', '.join(restarted)}"] if restarted else [])
        + notes))
    return ret


def promoted(name, db, timeout=120):
    """Make standby cluster NAME a primary cluster: its standby leader promotes, and the
    other members follow it. A cluster that is no standby (any more) is left alone."""
    ret = _ret(name)
    remote, utils = _ops()
    try:
        topo = utils["pgsalt_ops.topology"](remote, db)
        leader = topo["leader"]
        if leader is None:
            ret["comment"] = f"{name}: no member leads; expected a standby leader to promote"
            return ret
        if topo["members"][leader]["role"] != "standby_leader":
            ret.update(result=True, comment=f"{name} is a primary cluster already ({leader} "
                       "leads)")
            return ret
        ret["changes"] = {"old": {"leader": leader, "role": "standby_leader"},
                          "new": {"leader": leader, "role": "primary"}}
        if __opts__["test"]:
            ret.update(result=None, comment=f"Would remove standby_cluster from {name}'s "
                       f"dynamic configuration: {leader} promotes, the others follow it")
            return ret
        utils["pgsalt_ops.promote"](remote, db, leader, timeout)
    except CommandExecutionError as exc:
        return _fail(ret, exc)
    ret.update(result=True, comment=f"Promoted {name}: {leader} accepts writes")
    return ret


def _cachedir():
    return os.path.join(__opts__["cachedir"], "pgsalt")


def _fire(tag, data):
    with salt.utils.event.get_master_event(__opts__, __opts__["sock_dir"],
                                           listen=False) as event:
        event.fire_event(data, tag)


def _report(ret, report, done):
    """A heal or enroll REPORT as a state return; DONE names the good outcomes."""
    ok = report["outcome"] in done
    changes = {"old": report.get("found"), "new": report["actions"]} if report["actions"] \
        else {}
    ret.update(result=ok, changes=changes,
               comment=f"{report['outcome']}: {report['comment']} ({report['seconds']} s)")
    return ret


def healed(name, plan, reason="", drift=None):
    """Find and repair what is wrong on member NAME of PLAN's cluster (orch.heal, started by
    the reactor on a beacon or drift event). DRIFT lists the states a drift check found."""
    ret = _ret(name)
    remote, utils = _ops()
    if __opts__["test"]:
        try:
            facts = utils["pgsalt_heal.diagnose"](remote, utils["pgsalt_ops.topology"], plan,
                                                  name)
        except CommandExecutionError as exc:
            return _fail(ret, exc)
        todo = utils["pgsalt_heal.repairs"](facts, name, drift,
                                             plan["heal"]["drift"]["repair"])
        if todo:
            ret["changes"] = {"old": facts, "new": [f"{a} {t}" for a, t in todo]}
        ret.update(result=None if todo else True,
                   comment=f"Would {', '.join(ret['changes']['new'])}" if todo
                   else f"{name}: nothing to repair")
        return ret
    report = utils["pgsalt_heal.heal"](remote, utils["pgsalt_ops.topology"], _fire, plan, name,
                                       reason, _cachedir(), drift)
    return _report(ret, report, ("repaired", "healthy", "reported"))


def enrolled(name, plan):
    """Join member NAME, whose minion started, to PLAN's running cluster (orch.enroll)."""
    ret = _ret(name)
    if __opts__["test"]:
        ret.update(result=None, changes={"old": None, "new": f"highstate {name}"},
                   comment=f"Would converge the members that {name} changes, then give "
                   f"{name} its highstate")
        return ret
    remote, utils = _ops()
    report = utils["pgsalt_heal.enroll"](remote, _fire, plan, name, _cachedir())
    return _report(ret, report, ("enrolled",))
