"""Day-2 operations driven from the Salt master: they reach the hosts through
``saltutil.cmd`` and move one host at a time, with a health check after each.

Every function takes ``remote``, a :class:`Remote`, and raises :class:`StepError` naming
the host and the step at the first failure.
"""

import time

from salt.exceptions import CommandExecutionError

PRIMARY_ROLES = ("leader", "primary", "master")
REPLICA_ROLES = ("replica", "sync_standby", "quorum_standby")


class StepError(CommandExecutionError):
    """A step failed on a host; the message says which."""

    def __init__(self, host, step, message):
        super().__init__(f"{host}: {step}: {message}")
        self.host, self.step = host, step


class Remote:
    """Runs execution functions on minions, as ``saltutil.cmd`` does from the master."""

    def __init__(self, cmd, clock=time.monotonic, sleep=time.sleep):
        self.cmd, self.clock, self.sleep = cmd, clock, sleep

    def call(self, targets, fun, *args, step=None, wait=60, **kwargs):
        """FUN(*ARGS, **KWARGS) on every host of TARGETS at once: {host: return}; a host
        that fails or does not answer within WAIT seconds raises StepError."""
        targets = [targets] if isinstance(targets, str) else list(targets)
        out = self.cmd(targets, fun, arg=list(args), kwarg=kwargs, tgt_type="list",
                       timeout=wait) or {}
        results = {}
        for host in targets:
            data = out.get(host)
            if not isinstance(data, dict) or "ret" not in data:
                raise StepError(host, step or fun, "the minion did not answer")
            ret = data["ret"]
            failed = data.get("retcode", 0) != 0 or (isinstance(ret, dict)
                                                   and ret.get("result") is False)
            if failed:
                message = ret.get("message") if isinstance(ret, dict) else ret
                raise StepError(host, step or fun, str(message).strip())
            results[host] = ret
        return results

    def one(self, target, fun, *args, **kwargs):
        return self.call(target, fun, *args, **kwargs)[target]


def remote(cmd):
    """A :class:`Remote` over CMD (``saltutil.cmd``): the loader hands out functions only."""
    return Remote(cmd)


def topology(remote, db):
    """Patroni's view of the cluster from the first db host that answers:
    ``{'leader': name|None, 'members': {name: {role, state, lag, timeline, pending_restart,
    nofailover}}}``."""
    errors = []
    for host in db:
        try:
            data = remote.one(host, "pgsalt_patroni.cluster", step="read the cluster",
                              wait=15)
        except StepError as exc:
            errors.append(str(exc))
            continue
        members = {}
        for m in data.get("members") or []:
            members[m["name"]] = {
                "role": m.get("role"), "state": m.get("state"),
                "lag": m.get("lag") if isinstance(m.get("lag"), int) else None,
                "timeline": m.get("timeline"),
                "pending_restart": bool(m.get("pending_restart")),
                "nofailover": bool((m.get("tags") or {}).get("nofailover")),
            }
        leader = next((n for n, m in members.items() if m["role"] in PRIMARY_ROLES), None)
        return {"leader": leader, "members": members}
    raise StepError(",".join(db), "read the cluster", "; ".join(errors) or "no db host")


def _eligible(member):
    return (member["role"] in REPLICA_ROLES and member["state"] in ("streaming", "running")
            and not member["nofailover"])


def healthiest(topo, exclude=()):
    """The replica that should lead next: a synchronous standby first, then the least
    lag; None when no replica is eligible."""
    ranked = sorted(
        (m["role"] != "sync_standby", m["lag"] if m["lag"] is not None else 1 << 62, name)
        for name, m in topo["members"].items() if _eligible(m) and name not in exclude)
    return ranked[0][2] if ranked else None


def check_candidate(topo, candidate):
    """Why CANDIDATE cannot lead (a string), or None when it can."""
    member = topo["members"].get(candidate)
    if member is None:
        return f"{candidate} is no member of the cluster ({', '.join(sorted(topo['members']))})"
    if candidate == topo["leader"]:
        return f"{candidate} is the leader already"
    if not _eligible(member):
        return (f"{candidate} is not a healthy replica (role {member['role']}, state "
                f"{member['state']}{', tagged nofailover' if member['nofailover'] else ''})")
    return None


def _await_primary(remote, host, timeout):
    ready = remote.one(host, "pgsalt_patroni.wait_ready", step="wait for the new leader",
                       wait=timeout + 10, timeout=timeout)
    if not ready.get("ready") or ready.get("role") not in PRIMARY_ROLES:
        raise StepError(host, "wait for the new leader", ready.get("reason") or str(ready))


def _route(remote, balancers, leader, timeout, resume_pooler=False):
    if balancers:
        remote.call(balancers, "pgsalt_haproxy.route_primary", leader, step="route to "
                    "the new leader", wait=timeout + 10, timeout=timeout,
                    resume_pooler=resume_pooler)


def switchover(remote, db, balancers, candidate=None, pause_pooler=False, pause_timeout=10,
               timeout=60, topo=None):
    """Hand the leader role to CANDIDATE (or the healthiest replica), then make every
    balancer's HAProxy route writes to it. With PAUSE_POOLER every PgBouncer holds new
    queries from before the switch until HAProxy routes to the new leader: clients wait
    instead of failing. Returns what happened, with timings in seconds."""
    topo = topo or topology(remote, db)
    leader = topo["leader"]
    if leader is None:
        raise StepError(",".join(db), "switchover", "the cluster has no leader: use "
                        "orch.failover")
    candidate = candidate or healthiest(topo, exclude=(leader,))
    if candidate is None:
        raise StepError(leader, "switchover", "no replica is healthy enough to take over")
    problem = check_candidate(topo, candidate)
    if problem:
        raise StepError(candidate, "switchover", problem)

    report = {"old_leader": leader, "new_leader": candidate, "paused": []}
    # The old leader's shutdown checkpoint then has little left to write.
    remote.one(leader, "cmd.run_all", ["psql", "-XAtqc", "CHECKPOINT"], step="checkpoint",
               runas="postgres", python_shell=False)
    started = remote.clock()
    resumed = False
    try:
        if pause_pooler and balancers:
            remote.call(balancers, "pgsalt_pgbouncer.pause", step="pause PgBouncer",
                        wait=pause_timeout + 10, timeout=pause_timeout)
            report["paused"] = list(balancers)
            report["pause_s"] = round(remote.clock() - started, 2)
        remote.one(candidate, "pgsalt_patroni.switch_to", leader, step="switchover",
                   wait=timeout + 10, timeout=timeout)
        report["switch_s"] = round(remote.clock() - started, 2)
        # One call per balancer routes and resumes: clients wait one round trip less.
        _route(remote, balancers, candidate, timeout, resume_pooler=bool(report["paused"]))
        report["routed_s"] = round(remote.clock() - started, 2)
        resumed = True
    finally:
        if report["paused"] and not resumed:
            remote.call(report["paused"], "pgsalt_pgbouncer.resume", step="resume PgBouncer",
                        wait=20)
    if report["paused"]:
        report["held_s"] = round(remote.clock() - started, 2)
    return report


def failover(remote, db, balancers, candidate=None, timeout=60):
    """Make CANDIDATE (or the healthiest replica) the leader when the leader is gone or
    Patroni will not elect one by itself; then route the balancers to it."""
    topo = topology(remote, db)
    if candidate and topo["leader"] == candidate:
        return {"old_leader": candidate, "new_leader": candidate, "changed": False}
    candidate = candidate or healthiest(topo, exclude=(topo["leader"],))
    if candidate is None or topo["members"].get(candidate, {}).get("state") not in (
            "streaming", "running"):
        raise StepError(candidate or ",".join(db), "failover",
                        "no running replica to fail over to")
    remote.one(candidate, "pgsalt_patroni.failover", candidate, step="failover",
               wait=timeout + 10, timeout=timeout)
    _await_primary(remote, candidate, timeout)
    _route(remote, balancers, candidate, timeout)
    return {"old_leader": topo["leader"], "new_leader": candidate, "changed": True}


def _restart(remote, host, timeout):
    remote.one(host, "pgsalt_patroni.restart", step="restart PostgreSQL", wait=timeout + 10,
               timeout=timeout)
    _wait_healthy(remote, host, timeout)


def _wait_healthy(remote, host, timeout):
    ready = remote.one(host, "pgsalt_patroni.wait_ready", step="wait until healthy",
                       wait=timeout + 10, timeout=timeout)
    if not ready.get("ready"):
        raise StepError(host, "wait until healthy", ready.get("reason") or str(ready))


def restart_plan(topo, pending_only=True):
    """The order of a rolling restart: replicas by name, then the leader, which goes
    through a switchover first. Only members flagged pending_restart with PENDING_ONLY."""
    wanted = [n for n, m in sorted(topo["members"].items())
              if m["pending_restart"] or not pending_only]
    replicas = [n for n in wanted if n != topo["leader"]]
    return {"replicas": replicas, "leader": topo["leader"] if topo["leader"] in wanted else None}


def rolling_restart(remote, db, balancers, pending_only=True, pause_pooler=True, timeout=180,
                    pause_timeout=10):
    """Restart PostgreSQL where needed, one host at a time, each healthy before the next:
    the replicas, then a switchover away from the leader. The demotion restarts the old
    leader with the new settings, so it is restarted again only if still pending."""
    topo = topology(remote, db)
    plan = restart_plan(topo, pending_only)
    report = {"restarted": [], "switchover": None}
    for host in plan["replicas"]:
        _restart(remote, host, timeout)
        report["restarted"].append(host)
    if plan["leader"]:
        old = plan["leader"]
        report["switchover"] = switchover(remote, db, balancers, pause_pooler=pause_pooler,
                                          pause_timeout=pause_timeout, timeout=timeout)
        _wait_healthy(remote, old, timeout)
        if topology(remote, db)["members"].get(old, {}).get("pending_restart"):
            _restart(remote, old, timeout)
        report["restarted"].append(old)
    return report
