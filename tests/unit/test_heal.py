"""Unit tests of self-healing: _utils/pgsalt_heal.py, the Patroni beacon, the drift module,
the states pgsalt_cluster.healed and pgsalt_cluster.enrolled, and heal's pillar checks.

``saltutil.cmd`` is a :class:`FakeHosts` over the demo cluster (pg1 leads, pg2 and pg3
replicate, pg4 is the repository host); it runs behind a real ``pgsalt_ops.Remote`` and
``pgsalt_ops.topology``, so the heal code meets the same return shapes it meets on the bed.
"""

import copy
import inspect
from unittest.mock import MagicMock, patch

import loaders
import pgsalt_heal as heal
import pgsalt_model as model
import pgsalt_ops as ops
import pytest
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

cluster_state = loaders.load("pgsalt_cluster_state_for_heal", "_states/pgsalt_cluster.py")
_patroni = loaders.load("pgsalt_patroni_module_for_heal", "_modules/pgsalt_patroni.py")
beacon = loaders.load("pgsalt_patroni_beacon_under_test", "_beacons/pgsalt_patroni.py")
drift_mod = loaders.load("pgsalt_drift_under_test", "_modules/pgsalt_drift.py")
monitoring_mod = loaders.load("pgsalt_monitoring_for_drift", "_modules/pgsalt_monitoring.py")

CLUSTERS = loaders.shipped_pillar()["pgsalt"]["clusters"]
DEFAULTS = loaders.defaults()
# The plan orch.heal hands the state: demo's members, roles, VIP and heal defaults.
PLAN = model.plan(CLUSTERS, "demo", DEFAULTS)
CLEAN = {"file_|-motd_|-/etc/motd_|-managed": {"__id__": "motd", "result": True,
                                               "changes": {}, "comment": "unchanged"}}
CHANGING = ("service.start", "service.stop", "pgsalt_etcd.discard_data", "state.apply",
            "pgsalt_patroni.reinit", "state.highstate")


def published(*modules):
    """``__utils__`` as Salt's loader builds it: each module's public functions."""
    return {f"{m.__name__}.{name}": func for m in modules for name, func in vars(m).items()
            if not name.startswith("_") and inspect.isfunction(func)
            and func.__module__ == m.__name__}


UTILS = published(ops, heal)


def demo_plan(repair=False):
    plan = copy.deepcopy(PLAN)
    plan["heal"]["drift"]["repair"] = repair
    return plan


class FakeHosts:
    """``saltutil.cmd`` over the demo cluster, every unit running and every member healthy."""

    def __init__(self):
        self.units = {host: set(heal.units(PLAN, host)) for host in PLAN["members"]}
        self.members = {"pg1": {"role": "leader", "state": "running"},
                        "pg2": {"role": "replica", "state": "streaming"},
                        "pg3": {"role": "replica", "state": "streaming"}}
        self.shown = {}            # host: states Patroni shows on the next reads, then members'
        self.highstate = {}        # (host, test): what state.highstate returns
        self.down = set()          # minions that answer nothing
        self.failing = {}          # (host, fun): error message
        self.busy = 0              # saltutil.is_running finds a state run this many times
        self.reinit_fixes = True
        self.uninstalled = {}      # host: units whose package is not installed yet
        self.etcd_lost = set()     # hosts whose etcd member lost its data: etcd cannot start
        self.start_cancelled = False  # service.start fails, yet the unit comes up
        self.calls = []            # (targets, fun, args, kwargs), one per saltutil.cmd call

    def __call__(self, tgt, fun, arg=(), kwarg=None, tgt_type="glob", timeout=None):
        assert tgt_type == "list" and timeout, (tgt_type, timeout)
        kwarg = kwarg or {}
        if fun.startswith("pgsalt_patroni."):  # a call the minion's function cannot bind fails
            inspect.signature(getattr(_patroni, fun.split(".")[1])).bind(*arg, **kwarg)
        self.calls.append((tuple(tgt), fun, tuple(arg), dict(kwarg)))
        out = {}
        for host in tgt:
            if host in self.down:
                continue
            if (host, fun) in self.failing:
                out[host] = {"ret": f"ERROR: {self.failing[(host, fun)]}", "retcode": 1}
                continue
            handler = getattr(self, "_" + fun.replace(".", "_"))
            ret = handler(host, *arg, **kwarg)
            out[host] = {"ret": ret, "retcode": int(fun == "service.start" and ret is False)}
        return out

    def _test_ping(self, host):
        return True

    def _service_status(self, host, unit):
        return unit in self.units[host]

    def _service_available(self, host, unit):
        return unit not in self.uninstalled.get(host, ())

    def _service_start(self, host, unit):
        if unit == "etcd" and host in self.etcd_lost:
            return False  # its start job failed: systemctl exits 1, Salt reports retcode 1
        self.units[host].add(unit)
        return not self.start_cancelled

    def _service_stop(self, host, unit):
        self.units[host].discard(unit)
        return True

    def _pgsalt_etcd_health(self, host):
        down = [h for h in PLAN["dcs"] if "etcd" not in self.units[h]]
        return {"healthy": not down, "members": len(PLAN["dcs"]), "leader": "pg1",
                "unhealthy": down}

    def _pgsalt_etcd_discard_data(self, host, service="etcd"):
        assert service not in self.units[host], "discarded under a running etcd"
        self.etcd_lost.discard(host)
        return {"removed": "/var/lib/etcd/default/member"}

    def _state_apply(self, host, mods, test=False):
        assert mods == "etcd" and not test
        self._service_start(host, "etcd")
        return copy.deepcopy(CLEAN)

    def _saltutil_is_running(self, host, fun):
        self.busy -= 1
        return [{"fun": "state.highstate", "jid": "1"}] if self.busy >= 0 else []

    def _pgsalt_patroni_cluster(self, host):
        members = []
        for name, m in self.members.items():
            state = self.shown[name].pop(0) if self.shown.get(name) else m["state"]
            members.append({"name": name, "role": m["role"], "state": state})
        return {"members": members}

    def _pgsalt_patroni_reinit(self, host, force=False):
        assert force, "a replica whose PostgreSQL is down needs force"
        if self.reinit_fixes:
            self.members[host]["state"] = "streaming"
        return {"result": True, "message": "reinitialize started"}

    def _pgsalt_patroni_wait_ready(self, host, timeout=120):
        return {"ready": True, "reason": "ok"}

    def _state_highstate(self, host, test=False):
        return copy.deepcopy(self.highstate.get((host, test), CLEAN))

    def changing(self):
        """(targets, fun, kwargs) of every call that changes something, in order."""
        return [(tgt, fun, kw) for tgt, fun, _, kw in self.calls if fun in CHANGING
                and not kw.get("test")]


@pytest.fixture
def fake():
    return FakeHosts()


@pytest.fixture
def clock():
    return loaders.FakeClock()


@pytest.fixture
def test_mode():
    return False


@pytest.fixture
def configure_loader_modules(fake, tmp_path, test_mode):
    minion_salt = {"saltutil.is_running": MagicMock(return_value=[]),
                   "state.highstate": MagicMock(return_value=CLEAN), "event.send": MagicMock(),
                   "pgsalt_monitoring.textfile": monitoring_mod.textfile}
    return {
        cluster_state: {"__salt__": {"saltutil.cmd": fake}, "__utils__": dict(UTILS),
                        "__opts__": {"test": test_mode, "cachedir": str(tmp_path)}},
        beacon: {"__salt__": {}, "__context__": {}},
        drift_mod: {"__salt__": minion_salt, "__grains__": {"id": "pg2"}},
    }


def run_heal(fake, tmp_path, clock, minion="pg2", drift=None, plan=None):
    fired = []
    report = heal.heal(ops.Remote(fake), ops.topology, lambda t, d: fired.append((t, d)),
                       plan or demo_plan(), minion, "beacon", str(tmp_path), drift,
                       clock=clock.monotonic, wall=clock.monotonic, sleep=clock.sleep)
    return report, fired


# --- units, the lock, the history ---


def test_units_follow_the_roles_in_start_order():
    assert heal.units(PLAN, "pg2") == ["etcd", "patroni", "haproxy", "pgbouncer", "keepalived"]
    assert heal.units(PLAN, "pg4") == []  # the repository host runs none of them
    plan = dict(PLAN, vip=None, etcd_service="etcd-demo", db=[], balancer=["pg2"])
    assert heal.units(plan, "pg2") == ["etcd-demo", "haproxy", "pgbouncer"]


def test_a_second_repair_of_the_cluster_times_out_on_the_lock(tmp_path, clock):
    with heal.cluster_lock(str(tmp_path), "demo", 600, clock.monotonic, clock.sleep) as waited:
        assert waited == 0
        # another cluster has a lock of its own
        with heal.cluster_lock(str(tmp_path), "second", 5, clock.monotonic, clock.sleep):
            pass
        with pytest.raises(CommandExecutionError, match="another repair of demo held the lock"):
            with heal.cluster_lock(str(tmp_path), "demo", 5, clock.monotonic, clock.sleep):
                pytest.fail("two repairs of one cluster at once")
        assert set(clock.sleeps) == {0.5} and sum(clock.sleeps) > 5
    # released: the next one gets it at once
    with heal.cluster_lock(str(tmp_path), "demo", 5, clock.monotonic, clock.sleep) as waited:
        assert waited == 0


SETTINGS = {"attempts": 3, "window": 600, "backoff": 30}


def test_history_refuses_a_flapping_host_until_the_window_passes(tmp_path):
    history = heal.History(str(tmp_path), "demo")
    for now in (100, 200, 300):
        assert history.refusal("pg2", now, SETTINGS) is None
        history.record("pg2", now, True, 600)
    assert "3 repairs within 600 s" in history.refusal("pg2", 350, SETTINGS)
    assert history.refusal("pg3", 350, SETTINGS) is None  # per host
    assert history.refusal("pg2", 700, SETTINGS) is None  # the first one aged out
    # the file outlives the instance (each orch.heal run is a new one), one per cluster
    assert heal.History(str(tmp_path), "demo").data == history.data
    assert heal.History(str(tmp_path), "second").data == {}
    (tmp_path / "heal-demo.json").write_text("{not json")
    assert heal.History(str(tmp_path), "demo").data == {}  # a torn file does not block repairs


def test_history_backs_off_doubling_after_failures_and_a_success_resets(tmp_path):
    settings = dict(SETTINGS, attempts=10)
    history = heal.History(str(tmp_path), "demo")
    history.record("pg2", 1000, False, 600)
    assert "backing off 30 s after 1 failed" in history.refusal("pg2", 1029, settings)
    assert history.refusal("pg2", 1030, settings) is None
    history.record("pg2", 1030, False, 600)
    assert "backing off 60 s after 2 failed" in history.refusal("pg2", 1089, settings)
    assert history.refusal("pg2", 1090, settings) is None
    history.record("pg2", 1090, True, 600)
    assert history.refusal("pg2", 1091, settings) is None


# --- diagnose and repairs ---


def diagnose(fake, clock, minion="pg2", settle=120):
    return heal.diagnose(ops.Remote(fake), ops.topology, PLAN, minion, settle, clock.monotonic,
                         clock.sleep)


def test_stopped_units_are_started_in_start_order(fake, clock):
    fake.units["pg2"] -= {"keepalived", "etcd", "pgbouncer"}
    facts = diagnose(fake, clock)
    assert facts["inactive"] == ["etcd", "pgbouncer", "keepalived"]
    assert facts["etcd"] == {"unit": "etcd", "quorum_without": True}
    assert facts["member"]["state"] == "streaming" and facts["leader"] == "pg1"
    assert heal.repairs(facts, "pg2") == [("start", "etcd"), ("start", "pgbouncer"),
                                          ("start", "keepalived")]


def test_transient_states_are_waited_out(fake, clock):
    fake.shown["pg2"] = ["creating replica", "starting"]
    facts = diagnose(fake, clock)
    assert facts["member"]["state"] == "streaming" and clock.sleeps == [2, 2]
    # still starting once settle passed: reported as it is, and not reinitialised
    fake.members["pg2"]["state"] = "starting"
    facts = diagnose(fake, clock, settle=10)
    assert facts["member"]["state"] == "starting" and sum(clock.sleeps) > 10
    assert heal.repairs(facts, "pg2") == []


def test_patroni_unreadable_everywhere_gives_no_member(fake, clock):
    for host in PLAN["db"]:
        fake.failing[(host, "pgsalt_patroni.cluster")] = "connection refused"
    assert diagnose(fake, clock) == {"inactive": [], "missing": [], "member": None,
                                     "leader": None}


def facts(role="replica", state="start failed", leader="pg1", inactive=()):
    return {"inactive": list(inactive), "member": {"role": role, "state": state},
            "leader": leader}


@pytest.mark.parametrize(("found", "drift", "expected"), [
    (facts(state="start failed"), (), [("reinit", "pg2")]),
    (facts(role="sync_standby", state="crashed"), (), [("reinit", "pg2")]),
    # the leader's data is never touched, whatever its state
    (facts(role="leader", state="crashed", leader="pg2"), (), []),
    (facts(role="standby_leader", state="crashed", leader="pg1"), (), []),
    (facts(role="master", state="crashed", leader="pg2"), (), []),  # Patroni < 3
    # without a leader there is nothing to copy from
    (facts(leader=None), (), []),
    # a stopped unit comes first: starting it may be all that is needed
    (facts(inactive=["patroni"]), (), [("start", "patroni")]),
    # drift is re-applied only when pillar allows it (heal:drift:repair)
    (facts(state="streaming"), (["pg-hba"], True), [("apply", "pg2")]),
    (facts(state="streaming"), (["pg-hba"], False), []),
    (facts(state="streaming"), ([], True), []),
])
def test_repairs(found, drift, expected):
    assert heal.repairs(found, "pg2", *drift) == expected


@pytest.mark.parametrize(("health", "expected"), [
    ({"members": 3, "unhealthy": ["pg2"]}, True),
    ({"members": 3, "unhealthy": []}, True),
    ({"members": 3, "unhealthy": ["pg2", "pg3"]}, False),
    ({"members": 3, "unhealthy": ["pg3"]}, False),  # pg2 itself does not count
    ({"members": 5, "unhealthy": ["pg2", "pg5"]}, True),
    (None, False),  # no other member answered
])
def test_an_etcd_member_is_replaceable_only_while_the_others_keep_quorum(health, expected):
    assert heal._quorum_without(health, "pg2") is expected


def test_the_etcd_member_is_replaced_only_after_a_start_did_not_take():
    found = dict(facts(state="streaming", inactive=["etcd"]),
                 etcd={"unit": "etcd", "quorum_without": True})
    assert heal.repairs(found, "pg2") == [("start", "etcd")]
    assert heal.repairs(found, "pg2", tried=[("start", "etcd")]) == [("replace", "etcd")]
    found["etcd"]["quorum_without"] = False
    assert heal.repairs(found, "pg2", tried=[("start", "etcd")]) == []


# --- heal, end to end ---


def stop_patroni(fake):
    fake.units["pg2"].discard("patroni")


def break_postgres(fake):
    fake.members["pg2"]["state"] = "start failed"


@pytest.mark.parametrize(("fault", "action", "call"), [
    (stop_patroni, "start patroni", ("service.start", {})),
    (break_postgres, "reinit pg2", ("pgsalt_patroni.reinit", {"force": True}))])
def test_heal_repairs_checks_and_reports(fake, tmp_path, clock, fault, action, call):
    fault(fake)
    fake.busy = 2  # a highstate runs: not a fault, waited for
    report, fired = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "repaired", report["comment"]
    assert report["actions"] == [action] and clock.sleeps[:2] == [2, 2]
    assert fake.changing() == [(("pg2",), *call)]
    funs = [fun for _, fun, _, _ in fake.calls]
    assert funs.index("pgsalt_patroni.wait_ready") > funs.index(call[0])  # it took
    assert fired == [("pgsalt/heal/demo/pg2/repaired", report)]
    assert heal.History(str(tmp_path), "demo").data["pg2"]["failures"] == 0


def test_an_etcd_member_that_lost_its_data_is_replaced(fake, tmp_path, clock):
    fake.units["pg2"].discard("etcd")
    fake.etcd_lost.add("pg2")
    report, fired = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "repaired", report["comment"]
    assert report["actions"] == ["start etcd", "replace etcd"]
    assert [(fun, args) for _, fun, args, _ in fake.calls if fun in CHANGING] == [
        ("service.start", ("etcd",)), ("service.stop", ("etcd",)),
        ("pgsalt_etcd.discard_data", ()), ("state.apply", ("etcd",))]
    assert fired == [("pgsalt/heal/demo/pg2/repaired", report)]


def test_a_start_that_reports_failure_but_comes_up_is_waited_for_not_escalated(
        fake, tmp_path, clock):
    # systemctl start while a --no-block stop still runs: the job is cancelled, the unit
    # comes up anyway, and Patroni's member shows its stale state meanwhile.
    fake.units["pg2"].discard("patroni")
    fake.start_cancelled = True
    report, _ = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "repaired" and report["actions"] == ["start patroni"]
    funs = [fun for _, fun, _, _ in fake.calls]
    assert "pgsalt_patroni.wait_ready" in funs and "pgsalt_patroni.reinit" not in funs


@pytest.mark.parametrize("why", ["another member is down", "no other member answers"])
def test_an_etcd_member_is_not_replaced_without_quorum_elsewhere(fake, tmp_path, clock, why):
    fake.units["pg2"].discard("etcd")
    fake.etcd_lost.add("pg2")
    if why == "another member is down":
        fake.units["pg3"].discard("etcd")
    else:
        for host in ("pg1", "pg3"):
            fake.failing[(host, "pgsalt_etcd.health")] = "no etcd endpoint answered"
    report, _ = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "failed" and report["actions"] == ["start etcd"]
    assert "'quorum_without': False" in report["comment"]
    assert [fun for _, fun, _, _ in fake.calls if fun in CHANGING] == ["service.start"]


def test_heal_of_a_healthy_host_changes_nothing(fake, tmp_path, clock):
    report, fired = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "healthy" and report["comment"] == "pg2 is healthy"
    assert fake.changing() == [] and report["actions"] == []
    assert fired == [("pgsalt/heal/demo/pg2/healthy", report)]
    assert not (tmp_path / "heal-demo.json").exists()  # no repair, nothing counted


def test_heal_leaves_a_host_being_built_to_enroll(fake, tmp_path, clock):
    # A rebuilt host whose minion answers before its highstate: no unit to start yet.
    fake.units["pg2"].clear()
    fake.uninstalled["pg2"] = {"etcd", "patroni", "haproxy", "pgbouncer", "keepalived"}
    report, _ = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "skipped" and "orch.enroll" in report["comment"], report
    assert fake.changing() == []


def test_heal_skips_a_minion_that_does_not_answer(fake, tmp_path, clock):
    fake.down.add("pg2")
    report, fired = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "skipped" and "does not answer" in report["comment"]
    assert [fun for _, fun, _, _ in fake.calls] == ["test.ping"]
    assert fired[0][0] == "pgsalt/heal/demo/pg2/skipped"


def test_heal_refuses_a_host_repaired_too_often(fake, tmp_path, clock):
    history = heal.History(str(tmp_path), "demo")
    for now in (700, 800, 900):
        history.record("pg2", now, True, 600)
    fake.units["pg2"].discard("patroni")
    report, fired = run_heal(fake, tmp_path, clock)  # the clock is at 1000
    assert report["outcome"] == "skipped" and "the host flaps" in report["comment"]
    assert fake.changing() == []
    assert fired[0][0] == "pgsalt/heal/demo/pg2/skipped"


@pytest.mark.parametrize("how", ["the action fails", "still wrong after it"])
def test_a_failed_repair_is_reported_and_counted(fake, tmp_path, clock, how):
    fake.members["pg2"]["state"] = "crashed"
    if how == "the action fails":
        fake.failing[("pg2", "pgsalt_patroni.reinit")] = "Patroni answered 503"
        expected = "pg2: reinitialise the replica: ERROR: Patroni answered 503"
    else:
        fake.reinit_fixes = False
        expected = "reinit pg2; still wrong:"
    report, fired = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "failed" and report["comment"].startswith(expected)
    assert fired[0][0] == "pgsalt/heal/demo/pg2/failed"
    entry = heal.History(str(tmp_path), "demo").data["pg2"]
    assert entry["failures"] == 1 and len(entry["attempts"]) == 1


def test_heal_fails_when_another_repair_holds_the_lock(fake, tmp_path, clock):
    with heal.cluster_lock(str(tmp_path), "demo", 1):
        report, fired = run_heal(fake, tmp_path, clock)
    assert report["outcome"] == "failed" and "heal:lock_timeout" in report["comment"]
    assert fake.calls == [] and fired[0][0] == "pgsalt/heal/demo/pg2/failed"


def test_drift_is_reported_when_repair_is_off_and_applied_when_on(fake, tmp_path, clock):
    report, fired = run_heal(fake, tmp_path, clock, drift=["pg-hba", "haproxy-config"])
    assert report["outcome"] == "reported" and "drift in 2 state(s)" in report["comment"]
    assert fake.changing() == [] and fired[0][0] == "pgsalt/heal/demo/pg2/reported"

    report, _ = run_heal(fake, tmp_path, clock, drift=["pg-hba"], plan=demo_plan(repair=True))
    assert report["outcome"] == "repaired" and report["actions"] == ["apply pg2"]
    assert fake.changing() == [(("pg2",), "state.highstate", {"test": False})]


# --- enroll ---


def would_change(state_id, changes=None):
    return {f"x_|-{state_id}": {"__id__": state_id, "result": None, "changes": changes or {},
                                "comment": "would change"}}


def run_enroll(fake, tmp_path, clock, minion="pg4"):
    fired = []
    report = heal.enroll(ops.Remote(fake), lambda t, d: fired.append((t, d)), demo_plan(),
                         minion, str(tmp_path), clock.monotonic, clock.sleep)
    return report, fired


def test_enroll_converges_the_changed_members_one_at_a_time_then_the_new_host(
        fake, tmp_path, clock):
    fake.highstate[("pg3", True)] = would_change("pg-hba")
    fake.highstate[("pg1", True)] = would_change("haproxy-config", {"diff": "+server pg4"})
    report, fired = run_enroll(fake, tmp_path, clock)
    assert report["outcome"] == "enrolled", report["comment"]
    highstates = [(tgt, kw.get("test", False)) for tgt, fun, _, kw in fake.calls
                  if fun == "state.highstate"]
    # pg2 would not change: it is left alone
    assert highstates == [(("pg1", "pg2", "pg3"), True), (("pg1",), False), (("pg3",), False),
                          (("pg4",), False)]
    assert report["actions"] == ["highstate pg1", "highstate pg3", "highstate pg4"]
    assert fired == [("pgsalt/heal/demo/pg4/enrolled", report)]


def test_enrolling_a_db_member_waits_until_it_is_ready(fake, tmp_path, clock):
    fake.down.add("pg2")  # a member that does not answer is left out
    report, _ = run_enroll(fake, tmp_path, clock, minion="pg3")
    assert report["outcome"] == "enrolled"
    assert fake.calls[1][:2] == (("pg1", "pg4"), "state.highstate")
    assert [(tgt, fun) for tgt, fun, _, _ in fake.calls][-2:] == [
        (("pg3",), "state.highstate"), (("pg3",), "pgsalt_patroni.wait_ready")]


def test_a_failed_state_stops_enroll_naming_host_and_state(fake, tmp_path, clock):
    fake.highstate[("pg3", True)] = would_change("haproxy-config")
    fake.highstate[("pg3", False)] = {"x_|-cfg": {"__id__": "haproxy-config", "result": False,
                                                  "changes": {}, "comment": "render error"}}
    report, fired = run_enroll(fake, tmp_path, clock)
    assert report["outcome"] == "failed"
    assert report["comment"] == "pg3: converge: haproxy-config: render error"
    assert ("pg4",) not in [tgt for tgt, fun, _, _ in fake.calls if fun == "state.highstate"]
    assert fired == [("pgsalt/heal/demo/pg4/failed", report)]


# --- the Patroni beacon ---

CONFIG = [{"cluster": "demo"}, {"max_lag": 1000}, {"interval": 5}]


def patroni_member(role="replica", state="running", replication="streaming", timeline=7):
    me = {"role": role, "state": state, "timeline": timeline, "patroni": {"name": "pg2"}}
    if role == "replica" and replication:
        me["replication_state"] = replication
    return me


def look(member=None, lag=0, error=None):
    """Patroni answers MEMBER (or raises ERROR), then the beacon looks once."""
    beacon.__salt__["pgsalt_patroni.member"] = MagicMock(return_value=member, side_effect=error)
    beacon.__salt__["pgsalt_patroni.cluster"] = MagicMock(
        return_value={"members": [{"name": "pg2", "lag": lag}]})
    return beacon.beacon(CONFIG)


@pytest.mark.parametrize(("member", "error", "tag"), [
    (patroni_member(), None, None),
    (patroni_member(replication="in archive recovery"), None, "replication_stopped"),
    # Patroni's API does not answer: as bad as PostgreSQL down
    (None, CommandExecutionError("connection refused"), "not_running")])
def test_the_first_look_fires_only_when_something_is_wrong(member, error, tag):
    events = look(member, error=error)
    assert [event["tag"] for event in events] == ([tag] if tag else [])
    for event in events:
        assert event["cluster"] == "demo" and all(old is None for old, _ in
                                                  event["changes"].values())


@pytest.mark.parametrize(("after", "lag", "tag"), [
    (patroni_member(role="primary", timeline=8), 0, "role"),
    (patroni_member(state="start failed", replication=None), 0, "not_running"),
    (patroni_member(replication="in archive recovery"), 0, "replication_stopped"),
    (patroni_member(), 5000, "lag"),
    (patroni_member(timeline=8), 0, "timeline"),
])
def test_what_changed_names_the_event(after, lag, tag):
    assert look(patroni_member()) == []
    (event,) = look(after, lag=lag)
    assert event["tag"] == tag
    assert look(after, lag=lag) == []  # reported once, not on every look


@pytest.mark.parametrize(("config", "ok"), [
    (CONFIG, True), ([{"max_lag": 1000}], False), ([{"cluster": "demo"}, {"max_lag": -1}], False),
    ([{"cluster": "demo"}, {"max_lag": "16MB"}], False),
    ([{"cluster": "demo"}, {"max_lag": True}], False)])
def test_beacon_validate(config, ok):
    assert beacon.validate(config)[0] is ok


# --- drift ---


def test_drifted_picks_states_that_would_change():
    states = {**CLEAN, **would_change("pg-hba"),
              "file_|-tls_|-/etc/tls_|-managed": {"__id__": "tls", "result": True,
                                                  "changes": {"mode": "0600"}},
              "no_|-id": {"result": None, "changes": {}}}
    assert drift_mod.drifted(states) == ["no_|-id", "pg-hba", "tls"]


def test_drift_check_fires_state_ids_only():
    drift_mod.__salt__["state.highstate"].return_value = {
        **CLEAN, **would_change("pgbouncer-userlist", {"diff": "md5s3cretpassword"})}
    assert drift_mod.check(cluster="demo") == {"drift": ["pgbouncer-userlist"]}
    drift_mod.__salt__["state.highstate"].assert_called_once_with(test=True)
    (tag, data), _ = drift_mod.__salt__["event.send"].call_args
    assert tag == "pgsalt/drift/pg2"
    assert data == {"id": "pg2", "cluster": "demo", "states": ["pgbouncer-userlist"]}
    assert "s3cret" not in repr(data)  # changes may hold secrets: never on the event bus


def test_drift_check_writes_the_count_for_node_exporter_where_monitoring_runs(tmp_path):
    drift_mod.__salt__["state.highstate"].return_value = {**CLEAN, **would_change("pg-hba")}
    with patch.object(monitoring_mod, "TEXTFILE_DIR", str(tmp_path / "absent")):
        drift_mod.check(cluster="demo")  # no node_exporter here: nothing written
    assert not (tmp_path / "absent").exists()
    with patch.object(monitoring_mod, "TEXTFILE_DIR", str(tmp_path)):
        drift_mod.check(cluster="demo")
        metric = (tmp_path / "pgsalt_drift.prom").read_text()
        assert "\npgsalt_drift_states 1\n" in metric
        assert "# TYPE pgsalt_drift_states gauge" in metric
        drift_mod.__salt__["state.highstate"].return_value = CLEAN
        drift_mod.check(cluster="demo")
        assert "\npgsalt_drift_states 0\n" in (tmp_path / "pgsalt_drift.prom").read_text()
    assert [p.name for p in tmp_path.iterdir()] == ["pgsalt_drift.prom"]  # no tmp file left


def test_drift_check_is_quiet_when_clean_or_during_a_state_run():
    assert drift_mod.check(cluster="demo") == {"drift": []}
    drift_mod.__salt__["saltutil.is_running"].return_value = [{"fun": "state.highstate"}]
    assert "skipped" in drift_mod.check(cluster="demo")
    drift_mod.__salt__["state.highstate"].assert_called_once()  # not again while a run is on
    drift_mod.__salt__["event.send"].assert_not_called()


# --- the states healed and enrolled ---


@pytest.mark.parametrize("test_mode", [True])
def test_healed_test_mode_predicts_and_acts_not(fake, test_mode):
    stop_patroni(fake)
    ret = cluster_state.healed("pg2", demo_plan())
    assert ret["result"] is None and ret["comment"] == "Would start patroni"
    assert ret["changes"]["new"] == ["start patroni"]
    assert fake.changing() == []
    fake.units["pg2"].add("patroni")
    ret = cluster_state.healed("pg2", demo_plan())
    assert ret["result"] is True and ret["changes"] == {}


def test_healed_repairs_and_fires_the_event(fake, tmp_path):
    stop_patroni(fake)
    with patch.object(cluster_state, "_fire") as fire:
        ret = cluster_state.healed("pg2", demo_plan(), reason="beacon")
    assert ret["result"] is True, ret["comment"]
    assert ret["changes"]["new"] == ["start patroni"]
    assert ret["comment"].startswith("repaired: start patroni")
    assert fire.call_args[0][0] == "pgsalt/heal/demo/pg2/repaired"
    assert (tmp_path / "pgsalt" / "heal-demo.json").exists()


def stub_report(outcome, actions=()):
    return {"outcome": outcome, "actions": list(actions), "comment": "why", "seconds": 1.5,
            "found": {"inactive": ["patroni"]}}


@pytest.mark.parametrize(("outcome", "result"), [
    ("repaired", True), ("healthy", True), ("reported", True), ("failed", False),
    ("skipped", False)])
def test_healed_maps_the_outcome(tmp_path, outcome, result):
    stub = MagicMock(return_value=stub_report(outcome, ["start patroni"]))
    with patch.dict(cluster_state.__utils__, {"pgsalt_heal.heal": stub}):
        ret = cluster_state.healed("pg2", demo_plan(), reason="drift", drift=["pg-hba"])
    assert ret["result"] is result and ret["comment"] == f"{outcome}: why (1.5 s)"
    args = stub.call_args[0]
    assert args[2] is cluster_state._fire and args[4:] == (
        "pg2", "drift", str(tmp_path / "pgsalt"), ["pg-hba"])


@pytest.mark.parametrize(("test_mode", "outcome", "result"), [
    (True, "enrolled", None), (False, "enrolled", True), (False, "failed", False)])
def test_enrolled(fake, test_mode, outcome, result):
    stub = MagicMock(return_value=stub_report(outcome, ["highstate pg4"]))
    with patch.dict(cluster_state.__utils__, {"pgsalt_heal.enroll": stub}):
        ret = cluster_state.enrolled("pg4", demo_plan())
    assert ret["result"] is result
    assert ret["changes"]["new"] == ("highstate pg4" if test_mode else ["highstate pg4"])
    assert stub.called is not test_mode and fake.calls == []  # test mode touches no host


# --- heal's pillar checks ---


@pytest.mark.parametrize(("heal_pillar", "key"), [
    ({"enabled": "yes"}, "enabled"),
    ({"attempts": 0}, "attempts"),
    ({"window": True}, "window"),
    ({"drift": {"interval": -1}}, "drift:interval"),
    ({"drift": {"repair": "yes"}}, "drift:repair"),
])
def test_heal_pillar_is_checked(heal_pillar, key):
    clusters = copy.deepcopy(CLUSTERS)
    assert not [e for e in model.validate(clusters, "demo", DEFAULTS) if ":heal" in e]
    clusters["demo"]["heal"] = heal_pillar
    errors = model.validate(clusters, "demo", DEFAULTS)
    assert [e for e in errors if e.startswith(f"pgsalt:clusters:demo:heal:{key}:")], errors
