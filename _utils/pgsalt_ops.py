"""Day-2 operations driven from the Salt master: they reach the hosts through
``saltutil.cmd`` and move one host at a time, with a health check after each.

Every function takes ``remote``, a :class:`Remote`, and raises :class:`StepError` naming
the host and the step at the first failure.
"""

import contextlib
import time

from salt.exceptions import CommandExecutionError

PRIMARY_ROLES = ("leader", "primary", "master", "standby_leader")
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
                message = (ret.get("message") or ret.get("comment") or ret.get("stderr")
                           or ret) if isinstance(ret, dict) else ret
                raise StepError(host, step or fun, str(message).strip())
            results[host] = ret
        return results

    def one(self, target, fun, *args, **kwargs):
        return self.call(target, fun, *args, **kwargs)[target]

    def alive(self, targets):
        """The hosts of TARGETS whose minion answers now."""
        out = self.cmd(list(targets), "test.ping", tgt_type="list", timeout=10) or {}
        return [host for host in targets if (out.get(host) or {}).get("ret") is True]


def remote(cmd):
    """A :class:`Remote` over CMD (``saltutil.cmd``): the loader hands out functions only."""
    return Remote(cmd)


def topology(remote, db):
    """Patroni's view of the cluster from the first db host that answers:
    ``{'leader': name|None, 'members': {name: {role, state, lag, timeline, pending_restart,
    nofailover, api_url}}}``."""
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
                "pending_reason": m.get("pending_restart_reason") or {},
                "nofailover": bool((m.get("tags") or {}).get("nofailover")),
                "api_url": m.get("api_url"),
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


def switch_candidate(topo, db, candidate=None):
    """The member a switchover hands the leader role to: CANDIDATE, or the healthiest
    replica. Raises StepError when there is none that may take it."""
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
    return candidate


def failover_candidate(topo, db, candidate=None):
    """The replica a failover promotes: CANDIDATE, or the healthiest; it must run."""
    candidate = candidate or healthiest(topo, exclude=(topo["leader"],))
    if candidate is None or topo["members"].get(candidate, {}).get("state") not in (
            "streaming", "running"):
        raise StepError(candidate or ",".join(db), "failover",
                        "no running replica to fail over to")
    return candidate


@contextlib.contextmanager
def _held(remote, balancers, pause_timeout):
    """PgBouncer on BALANCERS holds its clients (PAUSE) through the block, whose last step
    resumes them (route_primary with resume_pooler). When the block fails, every one is
    resumed here, those a failed PAUSE left paused included."""
    try:
        if balancers:
            remote.call(balancers, "pgsalt_pgbouncer.pause", step="pause PgBouncer",
                        wait=pause_timeout + 10, timeout=pause_timeout)
        yield
    except Exception:
        if balancers:
            remote.call(balancers, "pgsalt_pgbouncer.resume", step="resume PgBouncer",
                        wait=20)
        raise


def _await_primary(remote, host, timeout):
    ready = remote.one(host, "pgsalt_patroni.wait_ready", step="wait for the new leader",
                       wait=timeout + 10, timeout=timeout)
    if not ready.get("ready") or ready.get("role") not in PRIMARY_ROLES:
        raise StepError(host, "wait for the new leader", ready.get("reason") or str(ready))


def _route(remote, balancers, leader, timeout, resume_pooler=False,
           step="route to the new leader"):
    if balancers:
        remote.call(balancers, "pgsalt_haproxy.route_primary", leader, step=step,
                    wait=timeout + 10, timeout=timeout, resume_pooler=resume_pooler)


def switchover(remote, db, balancers, candidate=None, pause_pooler=False, pause_timeout=10,
               timeout=60, topo=None):
    """Hand the leader role to CANDIDATE (or the healthiest replica), then make every
    balancer's HAProxy route writes to it. With PAUSE_POOLER every PgBouncer holds new
    queries from before the switch until HAProxy routes to the new leader: clients wait
    instead of failing. Returns what happened, with timings in seconds."""
    topo = topo or topology(remote, db)
    leader = topo["leader"]
    candidate = switch_candidate(topo, db, candidate)
    paused = list(balancers) if pause_pooler else []
    report = {"old_leader": leader, "new_leader": candidate, "paused": paused}
    # The old leader's shutdown checkpoint then has little left to write.
    remote.one(leader, "cmd.run_all", ["psql", "-XAtqc", "CHECKPOINT"], step="checkpoint",
               runas="postgres", python_shell=False)
    started = remote.clock()
    with _held(remote, paused, pause_timeout):
        if paused:
            report["pause_s"] = round(remote.clock() - started, 2)
        remote.one(candidate, "pgsalt_patroni.switch_to", leader, step="switchover",
                   wait=timeout + 10, timeout=timeout, name=candidate,
                   leader_url=topo["members"][leader]["api_url"])
        report["switch_s"] = round(remote.clock() - started, 2)
        # One call per balancer routes and resumes: clients wait one round trip less.
        _route(remote, balancers, candidate, timeout, resume_pooler=bool(paused))
        report["routed_s"] = round(remote.clock() - started, 2)
    if paused:
        report["held_s"] = round(remote.clock() - started, 2)
    return report


def failover(remote, db, balancers, candidate=None, timeout=60):
    """Make CANDIDATE (or the healthiest replica) the leader when the leader is gone or
    Patroni will not elect one by itself; then route the balancers to it."""
    topo = topology(remote, db)
    if candidate and topo["leader"] == candidate:
        return {"old_leader": candidate, "new_leader": candidate, "changed": False}
    candidate = failover_candidate(topo, db, candidate)
    remote.one(candidate, "pgsalt_patroni.failover", candidate, step="failover",
               wait=timeout + 10, timeout=timeout)
    _await_primary(remote, candidate, timeout)
    # The lost leader's host is often a balancer too, and down: route where hosts answer.
    live = remote.alive(balancers)
    _route(remote, live, candidate, timeout)
    return {"old_leader": topo["leader"], "new_leader": candidate, "changed": True,
            "balancers_down": [b for b in balancers if b not in live]}


def _restart(remote, host, timeout):
    remote.one(host, "pgsalt_patroni.restart", step="restart PostgreSQL", wait=timeout + 10,
               timeout=timeout)
    _wait_healthy(remote, host, timeout)


def _wait_healthy(remote, host, timeout):
    ready = remote.one(host, "pgsalt_patroni.wait_ready", step="wait until healthy",
                       wait=timeout + 10, timeout=timeout)
    if not ready.get("ready"):
        raise StepError(host, "wait until healthy", ready.get("reason") or str(ready))


# A replica must run these at least as high as its primary (hot standby): a lower value
# takes effect on a replica only once the primary runs with it.
STANDBY_FLOORS = ("max_connections", "max_prepared_transactions", "max_locks_per_transaction",
                  "max_wal_senders", "max_worker_processes")


def _lowered(member):
    def number(value):
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    for name in STANDBY_FLOORS:
        change = member["pending_reason"].get(name) or {}
        old, new = number(change.get("old_value")), number(change.get("new_value"))
        if old is not None and new is not None and new < old:
            return True
    return False


def restart_plan(topo, pending_only=True):
    """The order of a rolling restart: replicas by name, then the leader, which goes
    through a switchover first. Only members flagged pending_restart with PENDING_ONLY.
    ``leader_first``: a lowered max_connections (or another standby floor) must reach the
    primary before any replica, so the leader restarts in place, first."""
    wanted = [n for n, m in sorted(topo["members"].items())
              if m["pending_restart"] or not pending_only]
    replicas = [n for n in wanted if n != topo["leader"]]
    leader = topo["leader"] if topo["leader"] in wanted else None
    return {"replicas": replicas, "leader": leader,
            "leader_first": bool(leader) and _lowered(topo["members"][leader])}


def _restart_leader_in_place(remote, leader, balancers, pause_pooler, timeout, pause_timeout):
    """Restart the leader where it is, PgBouncer holding its clients meanwhile."""
    paused = list(balancers) if pause_pooler else []
    with _held(remote, paused, pause_timeout):
        _restart(remote, leader, timeout)
        # Seen on the bed: Patroni once restarted the leader with the replicas' floor
        # from pg_controldata; a second restart then took the new value.
        if topology(remote, [leader])["members"][leader]["pending_restart"]:
            _restart(remote, leader, timeout)
        _route(remote, balancers, leader, timeout, resume_pooler=bool(paused))


def rolling_restart(remote, db, balancers, pending_only=True, pause_pooler=True, timeout=180,
                    pause_timeout=10):
    """Restart PostgreSQL where needed, one host at a time, each healthy before the next:
    the replicas, then a switchover away from the leader. The demotion restarts the old
    leader with the new settings, so it is restarted again only if still pending."""
    topo = topology(remote, db)
    plan = restart_plan(topo, pending_only)
    report = {"restarted": [], "switchover": None}
    if plan["leader_first"]:
        _restart_leader_in_place(remote, plan["leader"], balancers, pause_pooler, timeout,
                                 pause_timeout)
        report["restarted"].append(plan["leader"])
        for host in plan["replicas"]:
            _restart(remote, host, timeout)
            report["restarted"].append(host)
        return report
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


# --- minor upgrades (orch.minor_upgrade) -------------------------------------------------


def upgrade_plan(topo, hosts, in_place=()):
    """The order of a minor upgrade of HOSTS: hosts that are no Patroni member (etcd,
    balancers, the repository) or update IN_PLACE, by name, then the replicas by name, then
    the leader, which goes through a switchover first (None when it has nothing to
    update, or only packages that leave PostgreSQL alone)."""
    members, leader = topo["members"], topo["leader"]
    return {"others": sorted(h for h in hosts if h not in members or h in in_place),
            "replicas": sorted(h for h in hosts if h in members and h != leader
                               and h not in in_place),
            "leader": leader if leader in hosts and leader not in in_place else None}


def _moves_postgres(package):
    return not package.startswith(("haproxy", "pgbouncer", "keepalived", "pgbackrest", "etcd"))


def upgrade_survey(remote, db, hosts):
    """What a minor upgrade of HOSTS would do; changes nothing but apt's package lists.
    Returns ``(topo, found, plan)``: FOUND is ``{host: formula_packages() + {'pending'}}``,
    PLAN the :func:`upgrade_plan` of the hosts with something pending. Raises when there is
    something to do and the cluster is not fit for it."""
    topo = topology(remote, db)
    found = {}
    for host in hosts:
        info = remote.one(host, "pgsalt_upgrade.formula_packages", step="list the packages")
        info["pending"] = remote.one(
            host, "pgsalt_upgrade.pending", info["packages"], step="look for updates",
            wait=180) if info["packages"] else {}
        found[host] = info
    todo = [host for host in hosts if found[host]["pending"]]
    # Updates that leave PostgreSQL and Patroni alone need no switchover on the leader.
    in_place = [h for h in todo if h == topo["leader"]
                and not any(_moves_postgres(pkg) for pkg in found[h]["pending"])]
    # A db host Patroni does not list would be updated without its health checks.
    lost = [host for host in todo if host in db and host not in topo["members"]]
    if lost:
        raise StepError(",".join(lost), "minor upgrade", "no running Patroni member; bring "
                        "it back before updating it")
    if todo and topo["leader"] is None:
        raise StepError(",".join(db), "minor upgrade", "the cluster has no leader")
    return topo, found, upgrade_plan(topo, todo, in_place)


def _wait_etcd(remote, host, timeout):
    # The package restarted this etcd member; the next one may restart only once it is
    # back, or two of three members are down at once and the cluster loses its quorum.
    deadline, last = remote.clock() + timeout, ""
    while True:
        try:
            health = remote.one(host, "pgsalt_etcd.health", step="etcd health", wait=20)
            if health.get("healthy"):
                return
            last = f"unhealthy: {health}"
        except StepError as exc:
            last = str(exc)
        if remote.clock() > deadline:
            raise StepError(host, "wait for etcd", f"not healthy after {timeout}s: {last}")
        remote.sleep(1)


def _running_version(remote, host, info):
    return remote.one(host, "pgsalt_upgrade.postgres_restart_needed", info["bin_dir"],
                      port=info["port"], step="compare PostgreSQL versions", wait=30)


def _route_leader(remote, host, leader, resume_pooler=False):
    # A restarted HAProxy counts every server up until their first checks fail: route
    # writes to the leader alone before PgBouncer sends any. Elsewhere a check that it does.
    _route(remote, [host], leader, 60, resume_pooler, step="route to the leader")


def _upgrade_host(remote, host, info, db, balancers, leader, pause_pooler, timeout,
                  pause_timeout):
    """Update one host's pending packages, then check it: HAProxy routes writes to the
    leader, etcd is healthy, PostgreSQL runs the new binary and streams."""
    report = {"packages": {}, "postgres_restarted": False, "notes": []}
    if "pgbouncer" in info["pending"]:
        report["notes"].append(f"PgBouncer restarted by its package: the clients of "
                               f"{host}'s PgBouncer reconnect")
    if "keepalived" in info["pending"]:
        report["notes"].append("keepalived restarted by its package: the VIP may move")
    before = _running_version(remote, host, info) if host in db else None
    route = host in balancers
    # Only an HAProxy restart by its package cuts PgBouncer's server connections: PgBouncer
    # holds its clients (PAUSE waits for the running transactions) through that update
    # alone, not through the longer rest.
    first = ["haproxy"] if route and pause_pooler and "haproxy" in info["pending"] else []
    if first:
        with _held(remote, [host], pause_timeout):
            report["packages"].update(remote.one(host, "pgsalt_upgrade.apply", first,
                                                 step="update packages", wait=timeout))
            _route_leader(remote, host, leader, resume_pooler=True)
        route = False
    if set(info["pending"]) - set(first):
        report["packages"].update(remote.one(host, "pgsalt_upgrade.apply", info["packages"],
                                             step="update packages", wait=timeout))
    if route:
        _route_leader(remote, host, leader)
    if "dcs" in info["roles"]:
        _wait_etcd(remote, host, timeout)
    if host in db:
        # A Patroni package restarts Patroni, and with it PostgreSQL: wait for it first.
        _wait_healthy(remote, host, timeout)
        after = _running_version(remote, host, info)
        if after["needed"]:
            _restart(remote, host, timeout)
            report["postgres_restarted"] = True
            after = _running_version(remote, host, info)
            if after["needed"]:
                raise StepError(host, "check the running version", f"PostgreSQL runs "
                                f"{after['running']} after a restart, the binary is "
                                f"{after['binary']}")
        report["postgres"] = {"old": before["running"], "new": after["running"]}
    return report


def rolling_upgrade(remote, db, balancers, hosts, pause_pooler=True, timeout=300,
                    pause_timeout=10):
    """Update the formula's packages to apt's candidates (minor versions), one host at a
    time, each checked before the next: the hosts that are no db member, the replicas,
    then a switchover away from the leader (PgBouncer paused with PAUSE_POOLER) and the
    old leader. PAUSE_POOLER also pauses a balancer's PgBouncer while its HAProxy updates.
    Hosts with nothing pending are not touched. Returns ``{'order', 'hosts': {host:
    {'packages': {pkg: {old, new}}, 'postgres_restarted', 'postgres', 'notes'}},
    'switchover'}``; a StepError carries what was done before it as ``report``."""
    topo, found, plan = upgrade_survey(remote, db, hosts)
    report = {"order": [], "hosts": {}, "switchover": None}
    try:
        for host in plan["others"] + plan["replicas"]:
            report["order"].append(host)
            report["hosts"][host] = _upgrade_host(remote, host, found[host], db, balancers,
                                                  topo["leader"], pause_pooler, timeout,
                                                  pause_timeout)
        old = plan["leader"]
        if old:
            report["switchover"] = switchover(remote, db, balancers, pause_pooler=pause_pooler,
                                              pause_timeout=pause_timeout)
            _wait_healthy(remote, old, timeout)
            report["order"].append(old)
            report["hosts"][old] = _upgrade_host(
                remote, old, found[old], db, balancers, report["switchover"]["new_leader"],
                pause_pooler, timeout, pause_timeout)
    except StepError as exc:
        exc.report = report  # what was done before the failure, for the state's return
        raise
    return report


# --- standby clusters (orch.promote_standby) -----------------------------------------------


def promote(remote, db, leader, timeout=120):
    """End standby cluster mode: Patroni drops ``standby_cluster`` from the dynamic
    configuration and the standby leader LEADER promotes on its next loop; then every db
    member is ready again (the replicas follow the new timeline)."""
    remote.one(leader, "pgsalt_patroni.patch_config", {"standby_cluster": None},
               step="remove standby_cluster")
    deadline = remote.clock() + timeout
    while topology(remote, db)["members"].get(leader, {}).get("role") == "standby_leader":
        if remote.clock() > deadline:
            raise StepError(leader, "promote", f"still a standby leader after {timeout}s")
        remote.sleep(1)
    for host in db:
        _wait_healthy(remote, host, timeout)
    return {"leader": leader}
