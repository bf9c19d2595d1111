"""Unit tests of the master-side day-2 operations: _utils/pgsalt_ops.py and the states of
_states/pgsalt_cluster.py that drive it (orch.switchover, orch.failover, orch.config).

``saltutil.cmd`` is a :class:`FakeCluster`: every host of the cluster runs a Patroni member, a
PgBouncer and an HAProxy; each call is recorded (host, function) in order, its arguments are
checked against the real execution function's signature, and Patroni's /cluster follows what
was done (a switchover moves the leader, a restart clears pending_restart).
"""

import inspect
from unittest.mock import patch

import loaders
import pgsalt_ops as ops
import pytest
import salt.modules.cmdmod
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

cluster_state = loaders.load("pgsalt_cluster_state_under_test", "_states/pgsalt_cluster.py")
_patroni = loaders.load("pgsalt_patroni_for_ops", "_modules/pgsalt_patroni.py")
_pooler = loaders.load("pgsalt_pgbouncer_for_ops", "_modules/pgsalt_pgbouncer.py")
_haproxy = loaders.load("pgsalt_haproxy_for_ops", "_modules/pgsalt_haproxy.py")

# What a minion would run: a call the real function could not bind fails on the minion.
REAL = {
    "pgsalt_patroni.cluster": _patroni.cluster,
    "pgsalt_patroni.switch_to": _patroni.switch_to,
    "pgsalt_patroni.failover": _patroni.failover,
    "pgsalt_patroni.restart": _patroni.restart,
    "pgsalt_patroni.wait_ready": _patroni.wait_ready,
    "pgsalt_pgbouncer.pause": _pooler.pause,
    "pgsalt_pgbouncer.resume": _pooler.resume,
    "pgsalt_haproxy.route_primary": _haproxy.route_primary,
    "cmd.run_all": salt.modules.cmdmod.run_all,
    "test.ping": lambda: True,
    "pgsalt_patroni.patch_config": _patroni.patch_config,
}
READS = ("pgsalt_patroni.cluster", "pgsalt_patroni.wait_ready")
# Patroni's actions answer {'result': False, 'message'} with retcode 1; the others raise.
RESULT_STYLE = ("pgsalt_patroni.switch_to", "pgsalt_patroni.failover",
                "pgsalt_patroni.restart")

DB = ["pg1", "pg2", "pg3"]
BALANCERS = ["pg1", "pg2", "pg3"]  # the demo layout: every db host is a balancer too


def published(module):
    """``__utils__`` as Salt's loader builds it for a module without ``__all__``: its public
    functions defined in the module itself."""
    return {f"{module.__name__}.{name}": func for name, func in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(func)
            and func.__module__ == module.__name__}


OPS_UTILS = published(ops)


def member(role="replica", state=None, lag=0, pending=False, nofailover=False):
    leader = role == "leader"
    return {"role": role, "state": state or ("running" if leader else "streaming"),
            "lag": None if leader else lag, "pending_restart": pending,
            "tags": {"nofailover": True} if nofailover else {}}


def demo(pending=(), **changes):
    """pg1 leads, pg2 is the synchronous standby (lagging a little), pg3 a replica."""
    members = {"pg1": member("leader"), "pg2": member("sync_standby", lag=4096),
               "pg3": member("replica", lag=0)}
    members.update(changes)
    for name in pending:
        members[name]["pending_restart"] = True
    return members


class FakeCluster:
    """``saltutil.cmd`` over a simulated cluster."""

    def __init__(self, members):
        self.members = members
        self.timeline = 7
        self.paused = set()        # balancers whose PgBouncer is paused
        self.routed = {}           # balancer -> the server HAProxy routes writes to
        self.calls = []            # (host, fun, args, kwargs), in order
        self.down = set()          # minions that answer nothing and run nothing
        self.silent = set()        # (host, fun): neither runs nor answers (a hung minion)
        self.failing = {}          # (host, fun): message
        self.demotion_applies_settings = True
        self.not_ready = {}        # host: reason wait_ready gives

    # --- saltutil.cmd ------------------------------------------------------------
    def __call__(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", ret="", kwarg=None,
                 **kwargs):
        assert tgt_type == "list" and isinstance(tgt, list), (tgt, tgt_type)
        assert timeout, "every call needs a timeout"
        kwarg = kwarg or {}
        inspect.signature(REAL[fun]).bind(*arg, **kwarg)
        out = {}
        for host in tgt:
            self.calls.append((host, fun, tuple(arg), dict(kwarg)))
            if host in self.down or (host, fun) in self.silent:
                continue
            if (host, fun) in self.failing:
                out[host] = self._failure(host, fun, kwarg, self.failing[(host, fun)])
                continue
            handler = getattr(self, "_" + fun.replace(".", "_"))
            out[host] = {"ret": handler(host, *arg, **kwarg), "retcode": 0, "jid": "1"}
        return out

    def _failure(self, host, fun, kwarg, message):
        # what the real module does on its way out
        if fun == "pgsalt_pgbouncer.pause" or (fun == "pgsalt_haproxy.route_primary"
                                               and kwarg.get("resume_pooler")):
            self.paused.discard(host)
        if fun == "cmd.run_all":
            return {"ret": {"pid": 1, "retcode": 2, "stdout": "", "stderr": message},
                    "retcode": 2}
        if fun in RESULT_STYLE:
            return {"ret": {"result": False, "message": message}, "retcode": 1}
        return {"ret": f"ERROR: {message}", "retcode": 1}

    # --- what the hosts run -------------------------------------------------------
    def leader(self):
        return next((n for n, m in self.members.items() if m["role"] == "leader"), None)

    def _pgsalt_patroni_cluster(self, host, **kwargs):
        members = []
        for name, m in self.members.items():
            entry = {"name": name, "role": m["role"], "state": m["state"],
                     "host": name, "port": 5432, "api_url": f"https://{name}:8008/patroni",
                     "timeline": self.timeline, "tags": m["tags"]}
            if m["lag"] is not None:
                entry["lag"] = m["lag"]
            if m["pending_restart"]:
                entry["pending_restart"] = True
            members.append(entry)
        return {"scope": "demo", "members": members}

    def _test_ping(self, host):
        return True

    def _promote(self, name):
        old = self.leader()
        if old is not None:
            self.members[old].update(role="replica", state="streaming", lag=0)
            if self.demotion_applies_settings:
                self.members[old]["pending_restart"] = False
        self.members[name].update(role="leader", state="running", lag=None)
        self.timeline += 1

    def _pgsalt_patroni_switch_to(self, host, leader, **kwargs):
        assert leader == self.leader(), f"switch_to names {leader}, the leader is {self.leader()}"
        # the lookups the candidate would make are handed over
        assert (kwargs["name"], kwargs["leader_url"]) == (host, f"https://{leader}:8008/patroni")
        self._promote(host)
        return {"result": True, "message": f"{host} is the primary", "seconds": 1.5}

    def _pgsalt_patroni_failover(self, host, candidate, **kwargs):
        self._promote(candidate)
        return {"result": True, "message": "Successfully failed over", "status": 200}

    def _pgsalt_patroni_restart(self, host, **kwargs):
        self.members[host]["pending_restart"] = False
        return {"result": True, "restarted": True, "message": "restarted", "status": 200}

    def _pgsalt_patroni_wait_ready(self, host, **kwargs):
        role = "primary" if self.members[host]["role"] == "leader" else "replica"
        if host in self.not_ready:
            return {"ready": False, "role": role, "state": "starting",
                    "reason": self.not_ready[host]}
        return {"ready": True, "role": role, "state": "running", "reason": "ok"}

    def _pgsalt_patroni_patch_config(self, host, patch, **kwargs):
        standby = next((n for n, m in self.members.items() if m["role"] == "standby_leader"),
                       None)
        if "standby_cluster" in patch and patch["standby_cluster"] is None and standby:
            self.members[standby]["role"] = "leader"
            self.timeline += 1
        return {}

    def _pgsalt_pgbouncer_pause(self, host, **kwargs):
        self.paused.add(host)
        return {"paused": True, "changed": True}

    def _pgsalt_pgbouncer_resume(self, host, **kwargs):
        changed = host in self.paused
        self.paused.discard(host)
        return {"paused": False, "changed": changed}

    def _pgsalt_haproxy_route_primary(self, host, leader, resume_pooler=False, **kwargs):
        self.routed[host] = leader
        if resume_pooler:
            self.paused.discard(host)
        return {"leader": leader, "servers": {}, "seconds": 0.4}

    def _cmd_run_all(self, host, cmd, **kwargs):
        assert cmd == ["psql", "-XAtqc", "CHECKPOINT"] and kwargs["runas"] == "postgres"
        return {"pid": 1, "retcode": 0, "stdout": "", "stderr": ""}

    # --- what the tests look at --------------------------------------------------
    def actions(self):
        """(host, short name) of every call that changes something, in order."""
        return [(host, fun.split(".")[-1]) for host, fun, _, _ in self.calls
                if fun not in READS]

    def steps(self):
        return [(host, fun.split(".")[-1]) for host, fun, _, _ in self.calls
                if fun != "pgsalt_patroni.cluster"]

    def pending(self):
        return {n for n, m in self.members.items() if m["pending_restart"]}


def remote(fake):
    return ops.Remote(fake, clock=loaders.FakeClock().monotonic)


def on(hosts, fun):
    return [(host, fun) for host in hosts]


# --------------------------------------------------------------------------
# topology, healthiest, check_candidate
# --------------------------------------------------------------------------


def test_topology_reads_the_first_db_host_that_answers():
    fake = FakeCluster(demo(pending=["pg3"], pg2=member("sync_standby", lag=4096,
                                                        nofailover=True)))
    fake.down.add("pg1")
    topo = ops.topology(remote(fake), DB)
    assert [(h, f) for h, f, _, _ in fake.calls] == on(["pg1", "pg2"], "pgsalt_patroni.cluster")
    assert topo["leader"] == "pg1"
    assert topo["members"]["pg1"]["lag"] is None
    assert topo["members"]["pg2"] == {"role": "sync_standby", "state": "streaming",
                                      "lag": 4096, "timeline": 7, "pending_restart": False,
                                      "pending_reason": {}, "nofailover": True,
                                      "api_url": "https://pg2:8008/patroni"}
    assert topo["members"]["pg3"]["pending_restart"] is True

    fake.down.update(DB)
    with pytest.raises(ops.StepError) as err:
        ops.topology(remote(fake), DB)
    assert "read the cluster" in str(err.value)
    assert all(f"{host}: read the cluster: the minion did not answer" in str(err.value)
               for host in DB)


def _topo(**members):
    return ops.topology(remote(FakeCluster(members)), ["pg1"])


def test_healthiest_prefers_the_sync_standby_then_the_least_lag():
    # the synchronous standby wins over a replica with less lag
    assert ops.healthiest(_topo(**demo()), exclude=("pg1",)) == "pg2"
    # without one, the least lag; "unknown" lag ranks last
    topo = _topo(pg1=member("leader"), pg2=member(lag=900), pg3=member(lag=10),
                 pg4=member(lag="unknown"))
    assert ops.healthiest(topo, exclude=("pg1",)) == "pg3"
    assert ops.healthiest(topo, exclude=("pg1", "pg3")) == "pg2"
    # neither a nofailover member nor one that does not stream
    topo = _topo(pg1=member("leader"), pg2=member("sync_standby", nofailover=True),
                 pg3=member(state="starting"), pg4=member(lag=10**9))
    assert ops.healthiest(topo, exclude=("pg1",)) == "pg4"
    assert ops.check_candidate(topo, "pg4") is None
    assert "nofailover" in ops.check_candidate(topo, "pg2")
    assert "starting" in ops.check_candidate(topo, "pg3")
    assert "leader already" in ops.check_candidate(topo, "pg1")
    assert "no member" in ops.check_candidate(topo, "pg9")
    assert ops.healthiest(topo, exclude=("pg1", "pg4")) is None


@pytest.mark.parametrize("answer", [
    {"ret": "ERROR: PgBouncer PAUSE: no answer in 10s", "retcode": 1},
    {"ret": {"result": False, "message": "PgBouncer PAUSE: no answer in 10s"}, "retcode": 0},
    None,  # the minion did not answer in time
], ids=["retcode", "result-false", "no-answer"])
def test_remote_raises_naming_the_host_and_the_step(answer):
    def cmd(tgt, fun, **kwargs):
        out = {"pg1": {"ret": {"paused": True, "changed": True}, "retcode": 0}}
        if answer is not None:
            out["pg2"] = answer
        return out

    with pytest.raises(CommandExecutionError) as err:
        ops.Remote(cmd).call(["pg1", "pg2"], "pgsalt_pgbouncer.pause", step="pause PgBouncer")
    assert err.value.host == "pg2" and err.value.step == "pause PgBouncer"
    expected = "the minion did not answer" if answer is None else "no answer in 10s"
    assert str(err.value).startswith("pg2: pause PgBouncer: ")
    assert str(err.value).endswith(expected)


# --------------------------------------------------------------------------
# switchover
# --------------------------------------------------------------------------


@pytest.mark.parametrize("pause_pooler", [True, False])
def test_switchover_pauses_switches_then_routes_and_resumes(pause_pooler):
    fake = FakeCluster(demo())
    report = ops.switchover(remote(fake), DB, BALANCERS, pause_pooler=pause_pooler)

    paused = on(BALANCERS, "pause") if pause_pooler else []
    assert fake.actions() == ([("pg1", "run_all")] + paused + [("pg2", "switch_to")]
                              + on(BALANCERS, "route_primary"))
    routes = [(args, kwargs) for _, fun, args, kwargs in fake.calls
              if fun == "pgsalt_haproxy.route_primary"]
    assert routes == [(("pg2",), {"timeout": 60, "resume_pooler": pause_pooler})] * 3
    assert fake.leader() == "pg2"
    assert fake.routed == dict.fromkeys(BALANCERS, "pg2")
    assert fake.paused == set()
    assert report["old_leader"] == "pg1" and report["new_leader"] == "pg2"
    assert report["paused"] == [host for host, _ in paused]


@pytest.mark.parametrize("where", ["switch_to fails", "routing hangs"])
def test_a_failed_switchover_resumes_every_pooler(where):
    fake = FakeCluster(demo())
    if where == "switch_to fails":
        fake.failing[("pg2", "pgsalt_patroni.switch_to")] = "Switchover failed: pg2 lags"
        host, step = "pg2", "switchover: Switchover failed: pg2 lags"
    else:
        fake.silent.add(("pg3", "pgsalt_haproxy.route_primary"))
        host, step = "pg3", "route to the new leader: the minion did not answer"

    with pytest.raises(ops.StepError) as err:
        ops.switchover(remote(fake), DB, BALANCERS, candidate="pg2", pause_pooler=True)
    assert str(err.value) == f"{host}: {step}"
    actions = fake.actions()
    failed_at = actions.index((host, "switch_to" if host == "pg2" else "route_primary"))
    assert actions[failed_at + 1:][-3:] == on(BALANCERS, "resume")
    assert fake.paused == set()
    if where == "switch_to fails":
        assert "route_primary" not in [fun for _, fun in actions]
        assert fake.leader() == "pg1"


def test_a_pause_failing_on_one_balancer_resumes_the_others():
    fake = FakeCluster(demo())
    fake.failing[("pg3", "pgsalt_pgbouncer.pause")] = "PgBouncer PAUSE: no answer in 10s"
    with pytest.raises(ops.StepError) as err:
        ops.switchover(remote(fake), DB, BALANCERS, candidate="pg2", pause_pooler=True)
    assert str(err.value).startswith("pg3: pause PgBouncer: ")
    assert "switch_to" not in [fun for _, fun in fake.actions()]
    assert fake.paused == set()  # pg1 and pg2 must not hold their clients forever


@pytest.mark.parametrize(("members", "candidate", "host", "problem"), [
    (demo(pg3=member(nofailover=True)), "pg3", "pg3", "tagged nofailover"),
    (demo(pg3=member(state="starting")), "pg3", "pg3", "state starting"),
    (demo(), "pg9", "pg9", "no member of the cluster"),
    (demo(), "pg1", "pg1", "leader already"),
    (demo(pg1=member("replica", state="stopped")), None, "pg1,pg2,pg3", "no leader"),
    (demo(pg2=member(state="stopped"), pg3=member(nofailover=True)), None, "pg1",
     "no replica is healthy"),
])
def test_switchover_refuses_before_touching_any_host(members, candidate, host, problem):
    fake = FakeCluster(members)
    with pytest.raises(ops.StepError) as err:
        ops.switchover(remote(fake), DB, BALANCERS, candidate=candidate, pause_pooler=True)
    assert err.value.host == host and problem in str(err.value)
    assert fake.actions() == []


def test_a_failed_checkpoint_says_why():
    fake = FakeCluster(demo())
    fake.failing[("pg1", "cmd.run_all")] = "psql: error: connection to server failed"
    with pytest.raises(ops.StepError) as err:
        ops.switchover(remote(fake), DB, BALANCERS, pause_pooler=True)
    assert str(err.value).startswith("pg1: checkpoint: ")
    assert fake.actions() == [("pg1", "run_all")]
    assert "connection to server failed" in str(err.value)


# --------------------------------------------------------------------------
# failover
# --------------------------------------------------------------------------


def _leader_lost(fake=None):
    """pg1's host is gone: its member key expired, its minion answers nothing."""
    fake = fake or FakeCluster(demo())
    del fake.members["pg1"]
    fake.members["pg2"]["state"] = fake.members["pg3"]["state"] = "running"
    fake.down.add("pg1")
    return fake


def test_failover_promotes_the_healthiest_waits_then_routes():
    fake = _leader_lost()
    report = ops.failover(remote(fake), DB, ["pg2", "pg3"])
    assert report == {"old_leader": None, "new_leader": "pg2", "changed": True,
                      "balancers_down": []}
    assert fake.steps() == [("pg2", "failover"), ("pg2", "wait_ready")] + on(
        ["pg2", "pg3"], "ping") + on(["pg2", "pg3"], "route_primary")
    assert fake.leader() == "pg2" and fake.routed == {"pg2": "pg2", "pg3": "pg2"}


def test_failover_refuses_a_candidate_that_does_not_run_and_keeps_a_leader():
    fake = _leader_lost()
    fake.members["pg3"]["state"] = "stopped"
    with pytest.raises(ops.StepError) as err:
        ops.failover(remote(fake), DB, BALANCERS, candidate="pg3")
    assert err.value.host == "pg3" and "no running replica" in str(err.value)
    fake = FakeCluster(demo())
    assert ops.failover(remote(fake), DB, BALANCERS, candidate="pg1")["changed"] is False
    assert fake.actions() == []


def test_failover_after_the_leader_host_died_succeeds_on_the_live_balancers():
    fake = _leader_lost()
    report = ops.failover(remote(fake), DB, BALANCERS)
    assert report["new_leader"] == "pg2"
    assert fake.routed == {"pg2": "pg2", "pg3": "pg2"}


# --------------------------------------------------------------------------
# rolling restart
# --------------------------------------------------------------------------


def test_restart_plan():
    topo = _topo(**demo(pending=["pg3", "pg1"]))
    assert ops.restart_plan(topo) == {"replicas": ["pg3"], "leader": "pg1",
                                      "leader_first": False}
    assert ops.restart_plan(topo, pending_only=False) == {"replicas": ["pg2", "pg3"],
                                                          "leader": "pg1", "leader_first": False}
    assert ops.restart_plan(_topo(**demo())) == {"replicas": [], "leader": None,
                                                 "leader_first": False}


@pytest.mark.parametrize("old, new, leader_first", [("220", "200", True), ("200", "220", False)])
def test_a_lowered_max_connections_restarts_the_leader_in_place_first(old, new, leader_first):
    topo = _topo(**demo(pending=["pg1", "pg2", "pg3"]))
    for m in topo["members"].values():
        m["pending_reason"] = {"max_connections": {"old_value": old, "new_value": new}}
    assert ops.restart_plan(topo)["leader_first"] is leader_first
    if not leader_first:
        return
    fake = FakeCluster(demo(pending=["pg1", "pg2", "pg3"]))
    real = ops.topology
    with patch.object(ops, "topology", side_effect=lambda r, db: topo if db == DB else real(r, db)):
        report = ops.rolling_restart(remote(fake), DB, BALANCERS)
    assert report["restarted"] == ["pg1", "pg2", "pg3"] and report["switchover"] is None
    assert fake.steps() == (on(BALANCERS, "pause") + [("pg1", "restart"), ("pg1", "wait_ready")]
                            + on(BALANCERS, "route_primary")
                            + [("pg2", "restart"), ("pg2", "wait_ready"),
                               ("pg3", "restart"), ("pg3", "wait_ready")])
    assert fake.paused == set() and fake.leader() == "pg1"


@pytest.mark.parametrize("demotion_applies", [True, False])
def test_rolling_restart_replicas_one_by_one_then_switches_over(demotion_applies):
    fake = FakeCluster(demo(pending=["pg1", "pg2", "pg3"]))
    fake.demotion_applies_settings = demotion_applies
    report = ops.rolling_restart(remote(fake), DB, BALANCERS)

    again = [("pg1", "restart"), ("pg1", "wait_ready")] if not demotion_applies else []
    assert fake.steps() == (
        [("pg2", "restart"), ("pg2", "wait_ready"), ("pg3", "restart"), ("pg3", "wait_ready"),
         ("pg1", "run_all")] + on(BALANCERS, "pause") + [("pg2", "switch_to")]
        + on(BALANCERS, "route_primary") + [("pg1", "wait_ready")] + again)
    restarts = [host for host, fun in fake.actions() if fun == "restart"]
    assert sorted(restarts) == sorted(set(restarts))  # nobody twice
    assert report["restarted"] == ["pg2", "pg3", "pg1"]
    assert report["switchover"]["new_leader"] == "pg2"
    assert fake.pending() == set() and fake.paused == set() and fake.leader() == "pg2"


@pytest.mark.parametrize("pending", [["pg3"], ["pg1"]])
def test_rolling_restart_touches_only_what_is_pending(pending):
    fake = FakeCluster(demo(pending=pending))
    ops.rolling_restart(remote(fake), DB, BALANCERS, pause_pooler=False)
    if pending == ["pg3"]:
        assert fake.actions() == [("pg3", "restart")]
    else:
        assert [a for a in fake.actions() if a[1] in ("restart", "switch_to")] == [
            ("pg2", "switch_to")]
    assert fake.pending() == set()


@pytest.mark.parametrize("how", ["restart fails", "not healthy after"])
def test_rolling_restart_stops_at_the_first_unhealthy_replica(how):
    fake = FakeCluster(demo(pending=["pg1", "pg2", "pg3"]))
    if how == "restart fails":
        fake.failing[("pg2", "pgsalt_patroni.restart")] = "restart failed: timeout"
        expected = "pg2: restart PostgreSQL: restart failed: timeout"
    else:
        fake.not_ready["pg2"] = "not ready after 180s: state starting"
        expected = "pg2: wait until healthy: not ready after 180s: state starting"
    with pytest.raises(ops.StepError) as err:
        ops.rolling_restart(remote(fake), DB, BALANCERS)
    assert str(err.value) == expected
    assert fake.actions() == [("pg2", "restart")]
    assert fake.leader() == "pg1"


# --------------------------------------------------------------------------
# the states
# --------------------------------------------------------------------------


@pytest.fixture
def fake():
    return FakeCluster(demo())


@pytest.fixture
def test_mode():
    return False


@pytest.fixture
def configure_loader_modules(fake, test_mode):
    return {cluster_state: {"__salt__": {"saltutil.cmd": fake}, "__opts__": {"test": test_mode},
                            "__utils__": OPS_UTILS}}


def switched_over(**kwargs):
    return cluster_state.switched_over("demo", DB, BALANCERS, **kwargs)


@pytest.mark.parametrize("test_mode", [True])
def test_switched_over_test_mode_predicts_and_touches_nothing(fake, test_mode):
    ret = switched_over(pause_pooler=True)
    assert ret["result"] is None
    assert ret["changes"] == {"old": {"leader": "pg1"}, "new": {"leader": "pg2"}}
    assert "pause PgBouncer on pg1, pg2, pg3" in ret["comment"]
    assert "pg1 -> pg2" in ret["comment"]
    assert fake.actions() == []


def test_switched_over_switches_and_reports(fake):
    ret = switched_over(candidate="pg3", pause_pooler=True)
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"]["old"] == {"leader": "pg1"}
    assert ret["changes"]["new"]["leader"] == "pg3"
    assert ret["changes"]["new"]["paused"] == BALANCERS
    assert fake.leader() == "pg3" and fake.paused == set()
    assert fake.actions().index(("pg3", "switch_to")) > fake.actions().index(("pg3", "pause"))


@pytest.mark.parametrize("test_mode", [True, False])
def test_switched_over_to_the_leader_changes_nothing(fake, test_mode):
    ret = switched_over(candidate="pg1", pause_pooler=True)
    assert ret["result"] is True and ret["changes"] == {}
    assert "pg1" in ret["comment"]
    assert fake.actions() == []


@pytest.mark.parametrize("test_mode", [True, False])
def test_switched_over_refusal_names_the_host_and_the_problem(fake, test_mode):
    fake.members["pg3"]["tags"] = {"nofailover": True}
    ret = switched_over(candidate="pg3", pause_pooler=True)
    assert ret["result"] is False and ret["changes"] == {}
    assert "pg3" in ret["comment"] and "nofailover" in ret["comment"]
    assert fake.actions() == []


def test_switched_over_failure_names_the_host_and_the_step(fake):
    fake.failing[("pg2", "pgsalt_patroni.switch_to")] = "Switchover failed: pg2 lags"
    ret = switched_over(pause_pooler=True)
    assert ret["result"] is False
    assert ret["comment"] == "pg2: switchover: Switchover failed: pg2 lags"
    assert fake.paused == set() and fake.leader() == "pg1"


def test_a_failed_switched_over_claims_no_change(fake):
    fake.failing[("pg2", "pgsalt_patroni.switch_to")] = "Switchover failed: pg2 lags"
    ret = switched_over(pause_pooler=True)
    assert ret["result"] is False and fake.leader() == "pg1"
    assert ret["changes"] == {}


@pytest.mark.parametrize("test_mode", [True, False])
def test_failed_over(fake, test_mode):
    _leader_lost(fake)
    ret = cluster_state.failed_over("demo", DB, ["pg2", "pg3"])
    assert ret["changes"] == {"old": {"leader": None}, "new": {"leader": "pg2"}}
    if test_mode:
        assert ret["result"] is None and fake.actions() == []
    else:
        assert ret["result"] is True and fake.leader() == "pg2"


@pytest.mark.parametrize("test_mode", [True, False])
def test_restarted(fake, test_mode):
    for name in ("pg1", "pg3"):
        fake.members[name]["pending_restart"] = True
    ret = cluster_state.restarted("demo", DB, BALANCERS)
    assert ret["changes"]["old"] == {"pending_restart": ["pg3", "pg1 (after a switchover)"]}
    if test_mode:
        assert ret["result"] is None
        assert ret["comment"] == "Would restart, in order: pg3, pg1 (after a switchover)"
        assert fake.actions() == []
    else:
        assert ret["result"] is True, ret["comment"]
        assert ret["changes"]["new"]["restarted"] == ["pg3", "pg1"]
        assert fake.pending() == set() and fake.paused == set()
    # once nothing is pending, a re-run does nothing
    ret = cluster_state.restarted("demo", DB, BALANCERS)
    if not test_mode:
        assert ret == {"name": "demo", "result": True, "changes": {},
                       "comment": "No member needs a restart"}


@pytest.mark.parametrize("test_mode", [True, False])
def test_promoted_ends_standby_mode_once(fake, test_mode):
    fake.members = {"pg6": member("standby_leader", state="streaming"),
                    "pg8": member("replica", lag=0)}
    ret = cluster_state.promoted("dr", ["pg6", "pg8"])
    assert ret["changes"] == {"old": {"leader": "pg6", "role": "standby_leader"},
                              "new": {"leader": "pg6", "role": "primary"}}
    if test_mode:
        assert ret["result"] is None and fake.actions() == []
        assert fake.members["pg6"]["role"] == "standby_leader"
        return
    assert ret["result"] is True, ret
    assert fake.members["pg6"]["role"] == "leader"
    assert fake.steps()[0] == ("pg6", "patch_config")
    again = cluster_state.promoted("dr", ["pg6", "pg8"])
    assert again["result"] is True and again["changes"] == {}
    assert "a primary cluster already" in again["comment"]
