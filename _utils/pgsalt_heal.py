"""Self-healing, run by the Salt master when the reactor starts orch.heal or orch.enroll.

A repair is the smallest safe one: start a stopped service, reinitialise a replica whose
PostgreSQL cannot run, replace the etcd member of a host whose etcd cannot start while the
other members hold quorum, or re-apply a host's states when its config drifted and pillar
allows it. When a repair does not take, the next larger one follows in the same run. One
repair of a cluster runs at a time (a lock file), a host that keeps failing is left alone
for a while (a history file), and the leader's data is never touched.

Functions take ``remote`` (a ``pgsalt_ops.Remote``), ``topology`` (``pgsalt_ops.topology``)
and ``fire(tag, data)`` for events under ``pgsalt/heal/``.
"""

import contextlib
import fcntl
import json
import os
import time

from salt.exceptions import CommandExecutionError

PRIMARY_ROLES = ("leader", "primary", "master", "standby_leader")
# PostgreSQL is down on a replica while Patroni runs: a restart did not help, so Patroni
# needs a fresh copy from the leader.
BROKEN = ("start failed", "crashed", "stopped")
# Repairs that follow a smaller one that did not take, in the same run.
ESCALATIONS = ("replace",)
# Patroni is on its way somewhere: look again before deciding anything.
TRANSIENT = ("starting", "stopping", "restarting", "creating replica", "restarting after failure",
             "initializing new cluster", "running custom bootstrap script", "bootstrapping")


def units(plan, minion):
    """The systemd units MINION runs for its roles in PLAN, in the order to start them."""
    found = []
    if minion in plan["dcs"]:
        found.append(plan.get("etcd_service") or "etcd")
    if minion in plan["db"]:
        found.append("patroni")
    if minion in plan["balancer"]:
        found += ["haproxy", "pgbouncer"] + (["keepalived"] if plan.get("vip") else [])
    return found


@contextlib.contextmanager
def cluster_lock(directory, cluster, timeout, clock=time.monotonic, sleep=time.sleep):
    """Hold CLUSTER's repair lock (a file under DIRECTORY); yield the seconds waited."""
    os.makedirs(directory, exist_ok=True)
    start = clock()
    with open(os.path.join(directory, f"heal-{cluster}.lock"), "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError as exc:
                if clock() - start > timeout:
                    raise CommandExecutionError(
                        f"another repair of {cluster} held the lock for {timeout} s "
                        "(heal:lock_timeout)") from exc
                sleep(0.5)
        try:
            yield round(clock() - start, 1)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class History:
    """Repairs per host (a JSON file): how many lately, and failures in a row."""

    def __init__(self, directory, cluster):
        self.path = os.path.join(directory, f"heal-{cluster}.json")
        try:
            with open(self.path, encoding="utf-8") as handle:
                self.data = json.load(handle)
        except (OSError, ValueError):
            self.data = {}

    def refusal(self, minion, now, settings):
        """Why MINION must not be repaired now (None when it may)."""
        entry = self.data.get(minion) or {}
        recent = [t for t in entry.get("attempts", []) if now - t < settings["window"]]
        if len(recent) >= settings["attempts"]:
            return (f"{len(recent)} repairs within {settings['window']} s (heal:attempts "
                    f"{settings['attempts']}): the host flaps; left for a human")
        failures = entry.get("failures", 0)
        if failures and recent:
            wait = settings["backoff"] * 2 ** (failures - 1)
            if now - recent[-1] < wait:
                return f"backing off {wait} s after {failures} failed repair(s)"
        return None

    def record(self, minion, now, ok, window):
        entry = self.data.setdefault(minion, {})
        entry["attempts"] = [t for t in entry.get("attempts", []) if now - t < window] + [now]
        entry["failures"] = 0 if ok else entry.get("failures", 0) + 1
        tmp = self.path + ".tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            json.dump(self.data, handle)
        os.replace(tmp, self.path)


def _settled_member(remote, topology, plan, minion, timeout, clock, sleep):
    """Patroni's view of MINION (None when it is no member) and the leader, once MINION is
    out of the transient states or TIMEOUT passed."""
    deadline = clock() + timeout
    while True:
        topo = topology(remote, plan["db"])
        member = topo["members"].get(minion)
        if member is None or member["state"] not in TRANSIENT or clock() > deadline:
            return member, topo["leader"]
        sleep(2)


def _etcd_health(remote, plan, minion):
    """etcd's health (``pgsalt_etcd.health``) as the first other member of PLAN that answers
    sees it, over every member's client URL; None when none answers."""
    for host in [h for h in plan["dcs"] if h != minion]:
        try:
            return remote.one(host, "pgsalt_etcd.health", step="etcd health")
        except CommandExecutionError:
            continue
    return None


def _quorum_without(health, minion):
    """True when the etcd members other than MINION are healthy enough to keep quorum
    without it."""
    if not health:
        return False
    others = health["members"] - len(set(health["unhealthy"]) | {minion})
    return others >= health["members"] // 2 + 1


def diagnose(remote, topology, plan, minion, settle=120, clock=time.monotonic,
             sleep=time.sleep):
    """What is wrong on MINION: ``{inactive: [units], missing: [units not installed],
    member: {...}|None, leader}``, and ``etcd: {unit, quorum_without}`` when its etcd is
    down."""
    status = {unit: bool(remote.one(minion, "service.status", unit, step=f"status of {unit}"))
              for unit in units(plan, minion)}
    missing = [unit for unit, up in status.items()
               if not up and not remote.one(minion, "service.available", unit)]
    member = leader = None
    if status.get("patroni"):
        try:
            member, leader = _settled_member(remote, topology, plan, minion, settle, clock,
                                             sleep)
        except CommandExecutionError:
            member = leader = None
    facts = {"inactive": [unit for unit, up in status.items() if not up and unit not in missing],
             "missing": missing, "member": member, "leader": leader}
    etcd = plan.get("etcd_service") or "etcd"
    if etcd in facts["inactive"]:
        facts["etcd"] = {"unit": etcd, "quorum_without": _quorum_without(
            _etcd_health(remote, plan, minion), minion)}
    return facts


def repairs(facts, minion, drift=None, drift_repair=False, tried=()):
    """The smallest safe repairs for FACTS, as ``[(action, target)]``: ``start`` a unit,
    ``reinit`` the replica, ``apply`` the host's states; after TRIED repairs, the next
    larger one: ``replace`` the etcd member that a start did not bring back, when the other
    members keep quorum without it."""
    if facts["inactive"]:
        todo = [("start", unit) for unit in facts["inactive"] if ("start", unit) not in tried]
        etcd = facts.get("etcd")
        if etcd and ("start", etcd["unit"]) in tried and etcd["quorum_without"]:
            todo.append(("replace", etcd["unit"]))
        return todo
    member, leader = facts["member"], facts["leader"]
    if (member and leader and leader != minion and member["role"] not in PRIMARY_ROLES
            and member["state"] in BROKEN):
        return [("reinit", minion)]
    if drift and drift_repair:
        return [("apply", minion)]
    return []


def _wait_states(remote, minion, timeout, clock, sleep):
    """Wait until MINION runs no state job (a highstate in progress is not a fault)."""
    deadline = clock() + timeout
    while remote.one(minion, "saltutil.is_running", "state.*", step="look for state runs"):
        if clock() > deadline:
            raise CommandExecutionError(f"{minion}: a state run lasted over {timeout} s")
        sleep(2)


def _await(check, timeout, clock, sleep, what):
    deadline = clock() + timeout
    while not check():
        if clock() > deadline:
            raise CommandExecutionError(f"{what} not done within {timeout} s")
        sleep(1)


def act(remote, plan, minion, action, target, clock=time.monotonic, sleep=time.sleep):
    """Carry out one repair and wait until it took. A unit that does not start is left to
    the next diagnosis, which may choose a larger repair."""
    if action == "start":
        try:
            remote.one(minion, "service.start", target, step=f"start {target}")
            wait = 30
        except CommandExecutionError:
            # The start job failed, or a stop job still running cancelled it: the unit
            # may come up anyway, briefly.
            wait = 5
        try:
            _await(lambda: remote.one(minion, "service.status", target), wait, clock, sleep,
                   f"{minion}: {target} running")
        except CommandExecutionError:
            return
        if target == "patroni":
            _ready(remote, minion, 180)
    elif action == "replace":
        # The member's data is lost or corrupt (etcd panics at start): the others hold the
        # data, so the host joins again as a new member (state etcd replaces the entry).
        remote.one(minion, "service.stop", target, step=f"stop {target}")
        remote.one(minion, "pgsalt_etcd.discard_data", service=target,
                   step="discard the member's data")
        _highstate(remote, [minion], "replace the etcd member", mods="etcd", wait=300)
        _await(lambda: (_etcd_health(remote, plan, minion) or {}).get("healthy"), 120, clock,
               sleep, f"{minion}: etcd member replaced and healthy")
    elif action == "reinit":
        remote.one(minion, "pgsalt_patroni.reinit", step="reinitialise the replica", force=True)
        _ready(remote, minion, 600)
    elif action == "apply":
        _highstate(remote, [minion], "re-apply the host's states")


def _ready(remote, minion, timeout):
    ready = remote.one(minion, "pgsalt_patroni.wait_ready", step="wait until healthy",
                       wait=timeout + 10, timeout=timeout)
    if not ready.get("ready"):
        raise CommandExecutionError(f"{minion}: {ready.get('reason') or 'not healthy'}")


def _run(fire, plan, minion, reason, outcome, cachedir, clock, sleep, body, **extra):
    """The frame of a heal or enroll run: BODY(report) under the cluster's lock, a
    CommandExecutionError as outcome failed, the seconds taken, and the event
    pgsalt/heal/CLUSTER/MINION/OUTCOME carrying the report, which is returned."""
    cluster, start = plan["cluster"], clock()
    report = {"cluster": cluster, "minion": minion, "reason": reason, "actions": [],
              "outcome": outcome, "comment": "", **extra}
    try:
        with cluster_lock(cachedir, cluster, plan["heal"]["lock_timeout"], clock,
                          sleep) as waited:
            report["waited"] = waited
            body(report)
    except CommandExecutionError as exc:
        report.update(outcome="failed", comment=str(exc))
    report["seconds"] = round(clock() - start, 1)
    fire(f"pgsalt/heal/{cluster}/{minion}/{report['outcome']}", report)
    return report


def heal(remote, topology, fire, plan, minion, reason, cachedir, drift=None,
         clock=time.monotonic, wall=time.time, sleep=time.sleep):
    """Find and repair what is wrong on MINION of PLAN's cluster. Returns a report:
    ``{outcome, actions, comment, seconds}``, outcome one of repaired, failed, healthy,
    skipped, reported; the same goes out as the event pgsalt/heal/CLUSTER/MINION/OUTCOME."""
    return _run(fire, plan, minion, reason, "healthy", cachedir, clock, sleep,
                lambda report: _heal_locked(remote, topology, plan, minion, drift, report,
                                            cachedir, clock, wall, sleep),
                **({"drift": drift} if drift else {}))


def _heal_locked(remote, topology, plan, minion, drift, report, cachedir, clock, wall, sleep):
    settings = plan["heal"]
    if not remote.alive([minion]):
        report.update(outcome="skipped", comment=f"{minion} does not answer; it enrolls when "
                      "its minion starts again")
        return
    _wait_states(remote, minion, settings["lock_timeout"], clock, sleep)
    facts = diagnose(remote, topology, plan, minion, clock=clock, sleep=sleep)
    report["found"] = facts
    if facts["missing"]:
        # A host being built: orch.enroll or orch.deploy sets it up, not a repair.
        report.update(outcome="skipped", comment=f"{', '.join(facts['missing'])} not "
                      f"installed on {minion} yet: orch.enroll or orch.deploy sets it up")
        return
    todo = repairs(facts, minion, drift, settings["drift"]["repair"])
    if not todo:
        if drift:
            report.update(outcome="reported", comment=f"drift in {len(drift)} state(s); "
                          "heal:drift:repair is off")
        else:
            report["comment"] = f"{minion} is healthy"
        return
    history = History(cachedir, plan["cluster"])
    refusal = history.refusal(minion, wall(), settings)
    if refusal:
        report.update(outcome="skipped", comment=refusal)
        return
    ok, tried = False, []
    try:
        while todo:
            for action, target in todo:
                act(remote, plan, minion, action, target, clock, sleep)
                tried.append((action, target))
                report["actions"].append(f"{action} {target}")
            facts = diagnose(remote, topology, plan, minion, clock=clock, sleep=sleep)
            # Only an escalation follows in the same run; anything else is the next event's.
            todo = [r for r in repairs(facts, minion, tried=tried)
                    if r[0] in ESCALATIONS and r not in tried]
        ok = not repairs(facts, minion)
        report.update(outcome="repaired" if ok else "failed",
                      comment=", ".join(report["actions"]) + ("" if ok else
                                                              f"; still wrong: {facts}"))
    finally:
        history.record(minion, wall(), ok, settings["window"])


def _would_change(states):
    return isinstance(states, dict) and any(
        isinstance(st, dict) and (st.get("result") is None or st.get("changes"))
        for st in states.values())


def _highstate(remote, hosts, step, test=False, wait=900, mods=None):
    """state.highstate (state.apply MODS with MODS) on HOSTS at once: {host: states}; a
    failed state raises, naming it."""
    fun, extra = ("state.apply", {"arg": [mods]}) if mods else ("state.highstate", {})
    out = remote.cmd(list(hosts), fun, kwarg={"test": test}, tgt_type="list", timeout=wait,
                     **extra) or {}
    found = {}
    for host in hosts:
        states = (out.get(host) or {}).get("ret")
        if not isinstance(states, dict):
            raise CommandExecutionError(f"{host}: {step}: {states or 'the minion did not answer'}")
        failed = [f"{st.get('__id__', sid)}: {st.get('comment')}" for sid, st in states.items()
                  if isinstance(st, dict) and st.get("result") is False]
        if failed:
            raise CommandExecutionError(f"{host}: {step}: " + "; ".join(failed[:3]))
        found[host] = states
    return found


def enroll(remote, fire, plan, minion, cachedir, clock=time.monotonic, sleep=time.sleep):
    """Join MINION, a member in PLAN whose minion just started, to the running cluster: the
    other members whose states change with it (pg_hba, HAProxy, PgBouncer, the repository
    host) are converged one at a time, then MINION gets its highstate, which replaces its
    etcd member when the host lost its data. Returns a report; the event is
    pgsalt/heal/CLUSTER/MINION/enrolled (or failed)."""
    def body(report):
        others = remote.alive([m for m in plan["members"] if m != minion])
        tested = _highstate(remote, others, "predict what the new host changes", test=True,
                            wait=300)
        for host in sorted(h for h, states in tested.items() if _would_change(states)):
            _highstate(remote, [host], "converge")
            report["actions"].append(f"highstate {host}")
        _highstate(remote, [minion], "highstate", wait=1800)
        report["actions"].append(f"highstate {minion}")
        if minion in plan["db"]:
            _ready(remote, minion, 600)
        report["comment"] = ", ".join(report["actions"])

    return _run(fire, plan, minion, "minion start", "enrolled", cachedir, clock, sleep, body)
