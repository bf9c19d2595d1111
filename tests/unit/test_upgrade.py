"""Unit tests of minor upgrades: the minion module _modules/pgsalt_upgrade.py (over faked
``pkg``/``cmd`` functions), the master's rolling order in _utils/pgsalt_ops.py and the state
``pgsalt_cluster.upgraded`` (over a faked ``saltutil.cmd``), and orch/minor_upgrade.sls.
"""

import inspect
import warnings
from unittest.mock import MagicMock

import loaders
import pgsalt_ops as ops
import pytest
import salt.modules.cmdmod
import test_render
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

upgrade = loaders.load("pgsalt_upgrade_under_test", "_modules/pgsalt_upgrade.py")
pgsalt_mod = loaders.load("pgsalt_execmod_for_upgrade", "_modules/pgsalt.py")
cluster_state = loaders.load("pgsalt_cluster_state_for_upgrade", "_states/pgsalt_cluster.py")
_patroni = loaders.load("pgsalt_patroni_for_upgrade", "_modules/pgsalt_patroni.py")
_pooler = loaders.load("pgsalt_pgbouncer_for_upgrade", "_modules/pgsalt_pgbouncer.py")
_haproxy = loaders.load("pgsalt_haproxy_for_upgrade", "_modules/pgsalt_haproxy.py")
_monitoring = loaders.load("pgsalt_monitoring_for_upgrade", "_modules/pgsalt_monitoring.py")
with warnings.catch_warnings():
    # etcd3's generated protobuf code is old; the pure-Python backend says so loudly.
    warnings.simplefilter("ignore", DeprecationWarning)
    _etcd = loaders.load("pgsalt_etcd_for_upgrade", "_modules/pgsalt_etcd.py")

BIN = "/usr/lib/postgresql/17/bin"


# --------------------------------------------------------------------------
# the minion module
# --------------------------------------------------------------------------


class Apt:
    """pkg.* over a tiny apt: INSTALLED and CANDIDATE versions by package."""

    def __init__(self, installed, candidate):
        self.installed, self.candidate = dict(installed), dict(candidate)
        self.refreshed, self.installs = [], []
        self.ignore = set()  # packages apt "installs" without changing them

    def version(self, name):
        return self.installed.get(name, "")

    def latest_version(self, name, refresh=True):
        assert refresh is False, "one refresh_db, not one per package"
        have, cand = self.installed.get(name), self.candidate.get(name, "")
        return cand if have and cand > have else ("" if have else cand)

    def refresh_db(self, **kwargs):
        self.refreshed.append(kwargs)
        return {}

    def install(self, pkgs, **kwargs):
        self.installs.append((pkgs, kwargs))
        changes = {}
        for item in pkgs:
            ((name, version),) = item.items()
            if name not in self.ignore:
                changes[name] = {"old": self.installed.get(name, ""), "new": version}
                self.installed[name] = version
        return changes


@pytest.fixture
def apt():
    return Apt({"haproxy": "3.0.11-1+deb13u4", "pgbouncer": "1.24.1-1", "postgresql-17": "17.6-1"},
               {"haproxy": "3.0.11-1+deb13u5", "pgbouncer": "1.24.1-1", "postgresql-17": "17.6-1",
                "keepalived": "1:2.3.3-1"})


@pytest.fixture
def run_all():
    return MagicMock()


@pytest.fixture
def minion():
    return "pg2"


@pytest.fixture
def osfinger():
    return "Debian-13"


@pytest.fixture
def test_mode():
    return False


@pytest.fixture
def updates():
    return ("haproxy", "postgresql-17", "pgbackrest")


@pytest.fixture
def bed(updates):
    return FakeBed(updates)


@pytest.fixture
def configure_loader_modules(apt, run_all, minion, osfinger, bed, test_mode):
    return {
        pgsalt_mod: loaders.minion_globals(minion, osfinger),
        upgrade: {
            "__grains__": {"os_family": "Debian", "id": minion},
            "__salt__": {"pkg.version": apt.version, "pkg.latest_version": apt.latest_version,
                         "pkg.refresh_db": apt.refresh_db, "pkg.install": apt.install,
                         "cmd.run_all": run_all, "pgsalt.defaults": pgsalt_mod.defaults,
                         "pgsalt.cluster": pgsalt_mod.cluster,
                         "pgsalt_monitoring.exporter_args": _monitoring.exporter_args},
        },
        cluster_state: {"__salt__": {"saltutil.cmd": bed}, "__opts__": {"test": test_mode},
                        "__utils__": published(ops)},
    }


def test_pending_lists_installed_packages_with_a_newer_candidate(apt):
    pending = upgrade.pending(["haproxy", "pgbouncer", "postgresql-17", "keepalived"])
    # pgbouncer is current, keepalived not installed: an upgrade installs nothing new
    assert pending == {"haproxy": {"installed": "3.0.11-1+deb13u4",
                                   "candidate": "3.0.11-1+deb13u5"}}
    assert apt.refreshed == [{"failhard": True}]
    assert upgrade.pending("haproxy,pgbouncer", refresh=False) == pending
    assert len(apt.refreshed) == 1


def test_a_downgrade_is_not_pending(apt):
    apt.installed["haproxy"] = "3.0.11-1+deb13u6"
    assert upgrade.pending(["haproxy"]) == {}


def test_apply_installs_the_pinned_candidates(apt):
    apt.candidate["postgresql-17"] = "17.7-1"
    changes = upgrade.apply(["haproxy", "pgbouncer", "postgresql-17"])
    assert apt.installs == [([{"haproxy": "3.0.11-1+deb13u5"}, {"postgresql-17": "17.7-1"}],
                             {"install_recommends": False})]
    assert changes == {"haproxy": {"old": "3.0.11-1+deb13u4", "new": "3.0.11-1+deb13u5"},
                       "postgresql-17": {"old": "17.6-1", "new": "17.7-1"}}
    # a re-run has nothing to do
    assert upgrade.apply(["haproxy", "pgbouncer", "postgresql-17"]) == {}
    assert len(apt.installs) == 1
    assert apt.refreshed == []  # apply uses the lists pending() refreshed


def test_apply_fails_when_apt_did_not_install_the_candidate(apt):
    apt.ignore.add("haproxy")
    with pytest.raises(CommandExecutionError, match="haproxy is 3.0.11-1\\+deb13u4, expected "
                       "3.0.11-1\\+deb13u5"):
        upgrade.apply(["haproxy"])


def _answers(run_all, binary, running, running_rc=0):
    run_all.side_effect = [loaders.run_result(f"postgres (PostgreSQL) {binary}\n"),
                           loaders.run_result(f"{running}\n" if not running_rc else "",
                                              "no socket" if running_rc else "", running_rc)]


@pytest.mark.parametrize(("binary", "running", "needed"), [
    ("17.6 (Debian 17.6-1)", "17.6 (Debian 17.6-1)", False),
    ("17.7 (Debian 17.7-1)", "17.6 (Debian 17.6-1)", True),
    # a Debian revision alone (a patched package of the same release) needs a restart too
    ("17.6 (Debian 17.6-0+deb13u2)", "17.6 (Debian 17.6-0+deb13u1)", True),
])
def test_postgres_restart_needed_compares_binary_and_server(run_all, binary, running, needed):
    _answers(run_all, binary, running)
    assert upgrade.postgres_restart_needed(BIN, port=5433) == {
        "needed": needed, "binary": binary, "running": running}
    version, show = run_all.call_args_list
    kwargs = show.kwargs
    version, show = version.args[0], show.args[0]
    assert version == [f"{BIN}/postgres", "-V"]
    assert show == ["psql", "-XAtq", "-p", "5433", "-c", "show server_version"]
    assert kwargs["runas"] == "postgres" and kwargs["python_shell"] is False


def test_postgres_restart_needed_fails_when_the_server_does_not_answer(run_all):
    _answers(run_all, "17.6 (Debian 17.6-1)", None, running_rc=2)
    with pytest.raises(CommandExecutionError, match="does not answer: no socket"):
        upgrade.postgres_restart_needed(BIN)


@pytest.mark.parametrize(("minion", "osfinger", "roles", "packages"), [
    # demo: backups on, a vip, Patroni from Debian's package, monitoring's exporters
    ("pg2", "Debian-13", ["dcs", "db", "balancer"],
     ["postgresql-17", "postgresql-client-17", "pgbackrest", "patroni", "python3-etcd",
      "haproxy", "pgbouncer", "keepalived", "etcd-server", "prometheus-node-exporter",
      "prometheus-postgres-exporter", "prometheus-pgbouncer-exporter"]),
    # the repository host: pgBackRest, the PostgreSQL the restore drill installs, and the
    # monitor's Prometheus and Alertmanager
    ("pg4", "Debian-13", ["backup", "monitor"],
     ["pgbackrest", "postgresql-17", "postgresql-client-17", "prometheus-node-exporter",
      "prometheus", "prometheus-alertmanager"]),
    # bookworm: Patroni in a pinned venv is left alone; no PgBouncer exporter there
    ("pg12", "Debian-12", ["dcs", "db", "balancer"],
     ["postgresql-15", "postgresql-client-15", "pgbackrest", "haproxy", "pgbouncer",
      "etcd-server", "prometheus-node-exporter", "prometheus-postgres-exporter"]),
])
def test_formula_packages_follow_the_roles(minion, osfinger, roles, packages):
    found = upgrade.formula_packages()
    assert found["roles"] == roles
    assert found["packages"] == packages
    assert found["bin_dir"] == ("/usr/lib/postgresql/17/bin" if osfinger == "Debian-13"
                                else "/usr/lib/postgresql/15/bin")
    assert found["port"] == 5432


@pytest.mark.parametrize("minion", ["elsewhere"])
def test_formula_packages_outside_any_cluster(minion):
    assert upgrade.formula_packages()["packages"] == []


def test_virtual_needs_debian_with_apt(monkeypatch):
    monkeypatch.setattr(upgrade.salt.utils.path, "which", lambda name: "/usr/bin/apt-get")
    assert upgrade.__virtual__() == "pgsalt_upgrade"
    monkeypatch.setitem(upgrade.__grains__, "os_family", "RedHat")
    assert upgrade.__virtual__()[0] is False
    monkeypatch.setitem(upgrade.__grains__, "os_family", "Debian")
    monkeypatch.setattr(upgrade.salt.utils.path, "which", lambda name: None)
    assert upgrade.__virtual__()[0] is False


# --------------------------------------------------------------------------
# the rolling order (master side), over a fake saltutil.cmd
# --------------------------------------------------------------------------

# What a minion would run: a call the real function could not bind fails on the minion.
REAL = {
    "pgsalt_patroni.cluster": _patroni.cluster,
    "pgsalt_patroni.switch_to": _patroni.switch_to,
    "pgsalt_patroni.restart": _patroni.restart,
    "pgsalt_patroni.wait_ready": _patroni.wait_ready,
    "pgsalt_pgbouncer.pause": _pooler.pause,
    "pgsalt_pgbouncer.resume": _pooler.resume,
    "pgsalt_haproxy.route_primary": _haproxy.route_primary,
    "pgsalt_etcd.health": _etcd.health,
    "pgsalt_upgrade.formula_packages": upgrade.formula_packages,
    "pgsalt_upgrade.pending": upgrade.pending,
    "pgsalt_upgrade.apply": upgrade.apply,
    "pgsalt_upgrade.postgres_restart_needed": upgrade.postgres_restart_needed,
    "cmd.run_all": salt.modules.cmdmod.run_all,
}
READS = ("pgsalt_patroni.cluster", "pgsalt_patroni.wait_ready", "pgsalt_etcd.health",
         "pgsalt_upgrade.formula_packages", "pgsalt_upgrade.pending",
         "pgsalt_upgrade.postgres_restart_needed")
ROLE_PACKAGES = {"db": ["postgresql-17", "patroni"], "balancer": ["haproxy", "pgbouncer"],
                 "dcs": ["etcd-server"], "backup": ["pgbackrest"]}
# pg1-pg3 as in the demo, the repository host pg4, and a balancer of its own, pg5
ROLES = {"pg1": ["dcs", "db", "balancer"], "pg2": ["dcs", "db", "balancer"],
         "pg3": ["dcs", "db", "balancer"], "pg4": ["backup"], "pg5": ["balancer"]}
HOSTS = sorted(ROLES)
DB = ["pg1", "pg2", "pg3"]
BALANCERS = ["pg1", "pg2", "pg3", "pg5"]


class FakeBed:
    """``saltutil.cmd`` over hosts with packages, a Patroni cluster, PgBouncers, HAProxys
    and etcd; every call is recorded (host, function, args, kwargs), in order."""

    def __init__(self, updates=("haproxy", "postgresql-17", "pgbackrest")):
        self.installed = {h: {p: "1" for r in roles for p in ROLE_PACKAGES[r]}
                          for h, roles in ROLES.items()}
        self.candidate = {h: {p: "2" for p in pkgs if p in updates}
                          for h, pkgs in self.installed.items()}
        self.running = {h: "1" for h in DB}     # the PostgreSQL version each server runs
        self.roles = {"pg1": "leader", "pg2": "sync_standby", "pg3": "replica"}
        self.calls = []
        self.paused = set()
        self.updated = []                       # (host, packages updated, PgBouncer paused)
        self.failing = {}                       # (host, fun): message
        self.missing_members = set()
        self.stuck = set()                      # hosts where a restart keeps the old binary
        self.etcd_unhealthy = {}                # host: how many health answers say no

    def __call__(self, tgt, fun, arg=(), timeout=None, tgt_type="glob", ret="", kwarg=None,
                 **kwargs):
        assert tgt_type == "list" and isinstance(tgt, list) and timeout, (tgt, tgt_type)
        kwarg = kwarg or {}
        inspect.signature(REAL[fun]).bind(*arg, **kwarg)
        out = {}
        for host in tgt:
            self.calls.append((host, fun, tuple(arg), dict(kwarg)))
            if (host, fun) in self.failing:
                if fun == "pgsalt_upgrade.apply":
                    self.installed[host]["haproxy"] = "2"  # half done, as apt can leave it
                out[host] = {"ret": f"ERROR: {self.failing[(host, fun)]}", "retcode": 1}
                continue
            handler = getattr(self, "_" + fun.split(".")[-1])
            out[host] = {"ret": handler(host, *arg, **kwarg), "retcode": 0}
        return out

    # --- packages -------------------------------------------------------------
    def _formula_packages(self, host):
        return {"cluster": "demo", "roles": ROLES[host], "packages": list(self.installed[host]),
                "bin_dir": BIN, "port": 5432}

    def _pending(self, host, pkgs, refresh=True):
        return {p: {"installed": self.installed[host][p], "candidate": self.candidate[host][p]}
                for p in pkgs if self.candidate[host].get(p, "0") > self.installed[host][p]}

    def _apply(self, host, pkgs):
        changes = {}
        for p, v in self._pending(host, pkgs).items():
            changes[p] = {"old": v["installed"], "new": v["candidate"]}
            self.installed[host][p] = v["candidate"]
        self.updated.append((host, sorted(changes), host in self.paused))
        return changes

    def _postgres_restart_needed(self, host, bin_dir, port=5432):
        binary = self.installed[host]["postgresql-17"]
        return {"needed": binary != self.running[host], "binary": binary,
                "running": self.running[host]}

    # --- Patroni, PgBouncer, HAProxy, etcd -------------------------------------
    def leader(self):
        return next(h for h, r in self.roles.items() if r == "leader")

    def _cluster(self, host, **kwargs):
        return {"members": [{"name": h, "role": r, "state": "running" if r == "leader"
                             else "streaming", "lag": 0, "tags": {}}
                            for h, r in self.roles.items() if h not in self.missing_members]}

    def _switch_to(self, host, leader, **kwargs):
        assert leader == self.leader()
        self.roles[leader], self.roles[host] = "replica", "leader"
        return {"result": True, "message": f"{host} is the primary"}

    def _restart(self, host, **kwargs):
        if host not in self.stuck:
            self.running[host] = self.installed[host]["postgresql-17"]
        return {"result": True, "restarted": True, "message": "restarted", "status": 200}

    def _wait_ready(self, host, **kwargs):
        role = "primary" if self.roles[host] == "leader" else "replica"
        return {"ready": True, "role": role, "state": "running", "reason": "ok"}

    def _pause(self, host, **kwargs):
        self.paused.add(host)
        return {"paused": True, "changed": True}

    def _resume(self, host, **kwargs):
        changed = host in self.paused
        self.paused.discard(host)
        return {"paused": False, "changed": changed}

    def _route_primary(self, host, leader, timeout=30, resume_pooler=False):
        if resume_pooler:
            self.paused.discard(host)
        return {"leader": leader, "servers": {}, "seconds": 0.2}

    def _health(self, host, **kwargs):
        left = self.etcd_unhealthy.get(host, 0)
        self.etcd_unhealthy[host] = left - 1
        return {"healthy": left <= 0, "members": 3, "leader": "pg1", "unhealthy": []}

    def _run_all(self, host, cmd, **kwargs):
        return {"pid": 1, "retcode": 0, "stdout": "", "stderr": ""}

    # --- what the tests look at ------------------------------------------------
    def actions(self):
        """(host, short name) of every call that changes something, in order."""
        return [(h, f.split(".")[-1]) for h, f, _, _ in self.calls if f not in READS]

    def after_survey(self):
        """(host, short name) of every call after the last look at pending updates, but
        Patroni's view of the cluster (any db host answers it)."""
        last = max(i for i, (_, f, _, _) in enumerate(self.calls)
                   if f == "pgsalt_upgrade.pending")
        return [(h, f.split(".")[-1]) for h, f, _, _ in self.calls[last + 1:]
                if f != "pgsalt_patroni.cluster"]


def _remote(fake):
    clock = loaders.FakeClock()
    return ops.Remote(fake, clock=clock.monotonic, sleep=clock.sleep)


def _host(name, *steps):
    return [(name, step) for step in steps]


def _collapse(hosts):
    return [h for i, h in enumerate(hosts) if i == 0 or hosts[i - 1] != h]


def test_upgrade_plan_orders_others_then_replicas_then_the_leader():
    topo = {"leader": "pg1", "members": dict.fromkeys(DB, {})}
    assert ops.upgrade_plan(topo, ["pg5", "pg3", "pg1", "pg4", "pg2"]) == {
        "others": ["pg4", "pg5"], "replicas": ["pg2", "pg3"], "leader": "pg1"}
    assert ops.upgrade_plan(topo, ["pg3"]) == {"others": [], "replicas": ["pg3"],
                                                "leader": None}


def test_rolling_upgrade_goes_one_host_at_a_time_and_the_leader_last():
    fake = FakeBed()
    report = ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)

    haproxy = ("pause", "apply", "route_primary")  # resumes PgBouncer once routed
    assert fake.actions() == (
        _host("pg4", "apply") + _host("pg5", *haproxy)
        + _host("pg2", *haproxy, "apply", "restart") + _host("pg3", *haproxy, "apply", "restart")
        # the switchover: checkpoint, every PgBouncer paused, switch, route and resume
        + [("pg1", "run_all")] + [(h, "pause") for h in BALANCERS] + [("pg2", "switch_to")]
        + [(h, "route_primary") for h in BALANCERS]
        + _host("pg1", *haproxy, "apply", "restart"))
    # each host is done, checks included, before the next one is touched
    after = fake.after_survey()
    switch = after.index(("pg1", "run_all"))
    assert _collapse([h for h, _ in after[:switch]]) == ["pg4", "pg5", "pg2", "pg3"]
    assert [step for step in after[:switch] if step[0] == "pg2"] == _host(
        "pg2", "postgres_restart_needed", "pause", "apply", "route_primary", "apply", "health",
        "wait_ready", "postgres_restart_needed", "restart", "wait_ready",
        "postgres_restart_needed")
    last_route = max(i for i, step in enumerate(after) if step == ("pg5", "route_primary"))
    assert {h for h, _ in after[last_route + 1:]} == {"pg1"}
    # PgBouncer was paused during each HAProxy update, and only then, and is resumed
    # everywhere; the HAProxy of an updated balancer routes to the leader of the moment
    assert fake.updated == [
        ("pg4", ["pgbackrest"], False), ("pg5", ["haproxy"], True),
        ("pg2", ["haproxy"], True), ("pg2", ["postgresql-17"], False),
        ("pg3", ["haproxy"], True), ("pg3", ["postgresql-17"], False),
        ("pg1", ["haproxy"], True), ("pg1", ["postgresql-17"], False)]
    assert fake.paused == set()
    assert [(a, k["resume_pooler"]) for h, f, a, k in fake.calls
            if f == "pgsalt_haproxy.route_primary" and h == "pg5"] == [
        (("pg1",), True), (("pg2",), True)]  # its own update, then the switchover
    # every server runs the new binary; the new leader is the synchronous standby
    assert fake.running == dict.fromkeys(DB, "2") and fake.leader() == "pg2"
    assert report["order"] == ["pg4", "pg5", "pg2", "pg3", "pg1"]
    assert report["switchover"]["old_leader"] == "pg1"
    assert report["hosts"]["pg2"] == {
        "packages": {"postgresql-17": {"old": "1", "new": "2"},
                     "haproxy": {"old": "1", "new": "2"}},
        "postgres_restarted": True, "postgres": {"old": "1", "new": "2"}, "notes": []}
    assert report["hosts"]["pg4"] == {"packages": {"pgbackrest": {"old": "1", "new": "2"}},
                                      "postgres_restarted": False, "notes": []}
    # a re-run finds nothing to do and does nothing
    fake.calls.clear()
    assert ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS) == {
        "order": [], "hosts": {}, "switchover": None}
    assert fake.actions() == []


def test_the_old_leader_is_updated_only_after_the_switchover():
    fake = FakeBed(updates=("patroni",))
    ops.rolling_upgrade(_remote(fake), DB, BALANCERS, ["pg1"])
    actions = fake.actions()
    assert actions.index(("pg2", "switch_to")) < actions.index(("pg1", "apply"))
    route = [a for h, f, a, _ in fake.calls if h == "pg1" and f.endswith("route_primary")]
    assert route[-1] == ("pg2",)  # pg1's HAProxy is checked against the new leader


def test_nothing_pending_changes_nothing():
    fake = FakeBed(updates=())
    report = ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert report == {"order": [], "hosts": {}, "switchover": None}
    assert fake.actions() == []


def test_a_leader_with_nothing_pending_keeps_its_role():
    fake = FakeBed()
    fake.candidate["pg1"] = {}
    report = ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert report["switchover"] is None and fake.leader() == "pg1"
    assert "pg1" not in {h for h, _ in fake.actions()}


def test_a_failed_update_resumes_pgbouncer_and_stops_the_roll():
    fake = FakeBed()
    fake.failing[("pg2", "pgsalt_upgrade.apply")] = "E: dpkg was interrupted"
    with pytest.raises(ops.StepError) as err:
        ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert str(err.value) == "pg2: update packages: ERROR: E: dpkg was interrupted"
    assert fake.after_survey()[-3:] == [("pg2", "pause"), ("pg2", "apply"), ("pg2", "resume")]
    assert fake.paused == set()
    # what was done before stays in the error, for the state's return
    assert err.value.report["order"] == ["pg4", "pg5", "pg2"]
    assert list(err.value.report["hosts"]) == ["pg4", "pg5"]


def test_routing_failing_after_the_update_still_resumes_pgbouncer():
    fake = FakeBed()
    fake.failing[("pg5", "pgsalt_haproxy.route_primary")] = "no route"
    with pytest.raises(ops.StepError, match="pg5: route to the leader: ERROR: no route"):
        ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert fake.actions()[-1] == ("pg5", "resume") and fake.paused == set()


def test_without_pause_pooler_no_pgbouncer_is_paused():
    fake = FakeBed()
    ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS, pause_pooler=False)
    assert {f for _, f in fake.actions()} == {"apply", "route_primary", "restart", "run_all",
                                               "switch_to"}
    assert all(k["resume_pooler"] is False for _, f, _, k in fake.calls
               if f == "pgsalt_haproxy.route_primary")
    # HAProxy is still routed to the leader alone after its update
    assert [step for step in fake.actions() if step[0] == "pg5"][:2] == _host(
        "pg5", "apply", "route_primary")


def test_a_pgbouncer_update_is_reported():
    fake = FakeBed(updates=("pgbouncer",))
    report = ops.rolling_upgrade(_remote(fake), DB, BALANCERS, ["pg5"])
    assert report["hosts"]["pg5"]["notes"] == [
        "PgBouncer restarted by its package: the clients of pg5's PgBouncer reconnect"]


def test_a_server_still_on_the_old_binary_stops_the_roll():
    fake = FakeBed()
    fake.stuck.add("pg2")
    with pytest.raises(ops.StepError, match="pg2: check the running version: PostgreSQL "
                       "runs 1 after a restart, the binary is 2"):
        ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert ("pg3", "apply") not in fake.actions()


def test_the_next_host_waits_for_etcd():
    fake = FakeBed()
    fake.etcd_unhealthy["pg2"] = 3
    ops.rolling_upgrade(_remote(fake), DB, BALANCERS, ["pg2", "pg3"])
    checks = [h for h, f, _, _ in fake.calls if f == "pgsalt_etcd.health"]
    assert checks[:4] == ["pg2"] * 4
    fake = FakeBed()
    fake.etcd_unhealthy["pg2"] = 10**6
    with pytest.raises(ops.StepError, match="pg2: wait for etcd: not healthy after 300s"):
        ops.rolling_upgrade(_remote(fake), DB, BALANCERS, ["pg2", "pg3"])
    assert ("pg3", "apply") not in fake.actions()


def test_a_db_host_patroni_does_not_list_is_refused_before_any_update():
    fake = FakeBed()
    fake.missing_members.add("pg3")
    with pytest.raises(ops.StepError, match="pg3: minor upgrade: no running Patroni member"):
        ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert fake.actions() == []


# --------------------------------------------------------------------------
# the state
# --------------------------------------------------------------------------


def published(module):
    return {f"{module.__name__}.{name}": func for name, func in vars(module).items()
            if not name.startswith("_") and inspect.isfunction(func)
            and func.__module__ == module.__name__}


@pytest.mark.parametrize("test_mode", [True])
def test_state_test_mode_predicts_and_changes_nothing(bed, test_mode):
    ret = cluster_state.upgraded("demo", DB, BALANCERS, HOSTS)
    assert ret["result"] is None
    assert ret["comment"] == "Would update, in order: pg4, pg5, pg2, pg3, pg1 (after a switchover)"
    assert ret["changes"]["old"]["pg2"] == {"postgresql-17": "1", "haproxy": "1"}
    assert ret["changes"]["new"]["pg4"] == {"pgbackrest": "2"}
    assert set(ret["changes"]["new"]) == set(HOSTS)
    assert bed.actions() == []


@pytest.mark.parametrize("updates", [()])
@pytest.mark.parametrize("test_mode", [True, False])
def test_state_with_nothing_pending(bed, updates, test_mode):
    ret = cluster_state.upgraded("demo", DB, BALANCERS, HOSTS)
    assert (ret["result"], ret["changes"]) == (True, {})
    assert ret["comment"] == "No package of the formula has an update"


def test_state_updates_and_reports(bed):
    ret = cluster_state.upgraded("demo", DB, BALANCERS, HOSTS)
    assert ret["result"] is True
    assert ret["changes"]["new"]["pg1"] == {"postgresql-17": "2", "haproxy": "2"}
    assert ret["changes"]["old"]["pg4"] == {"pgbackrest": "1"}
    assert ret["comment"].startswith("Updated, in order: pg4, pg5, pg2, pg3, pg1; switched "
                                     "over pg1 -> pg2; PostgreSQL restarted on pg2, pg3, pg1")


def test_state_failure_keeps_what_was_done(bed):
    bed.failing[("pg3", "pgsalt_upgrade.apply")] = "E: broken"
    ret = cluster_state.upgraded("demo", DB, BALANCERS, HOSTS)
    assert ret["result"] is False and ret["comment"] == "pg3: update packages: ERROR: E: broken"
    assert set(ret["changes"]["new"]) == {"pg4", "pg5", "pg2"}


# --------------------------------------------------------------------------
# orch/minor_upgrade.sls, rendered as test_render renders the other orchestrations
# --------------------------------------------------------------------------

salt_opts, file_client, render = test_render.salt_opts, test_render.file_client, test_render.render
_args, _orch, _refusal = test_render._args, test_render._orch, test_render._refusal


@pytest.mark.parametrize("extra", [{}, {"pause_pooler": False}])
def test_orch_minor_upgrade(render, extra):
    rendered = _orch(render, "demo", sls="orch.minor_upgrade", **extra)
    steps = {id_: _args(body) for id_, body in rendered.items()}
    assert list(steps) == ["pgsalt-minor-upgrade-sync", "pgsalt-minor-upgrade"]
    fun, args = steps["pgsalt-minor-upgrade-sync"]
    assert (fun, args["sls"], args["test"]) == ("salt.state", "pgsalt.sync", False)
    fun, args = steps["pgsalt-minor-upgrade"]
    assert fun == "pgsalt_cluster.upgraded"
    assert (args["db"], args["balancers"], args["hosts"]) == (
        ["pg1", "pg2", "pg3"], ["pg1", "pg2", "pg3"], ["pg1", "pg2", "pg3", "pg4"])
    assert args["pause_pooler"] is extra.get("pause_pooler", True)
    assert args["failhard"] is True


def test_orch_minor_upgrade_refuses_an_unknown_cluster(render):
    _, text = _refusal(_orch(render, "nosuch", sls="orch.minor_upgrade"))
    assert "minor upgrade refused, no host was touched" in text and "nosuch" in text


def test_a_leader_with_haproxy_alone_pending_updates_in_place():
    fake = FakeBed(updates=("haproxy",))
    report = ops.rolling_upgrade(_remote(fake), DB, BALANCERS, HOSTS)
    assert report["switchover"] is None and fake.leader() == "pg1"
    assert set(report["order"]) == {"pg1", "pg2", "pg3", "pg5"}
    assert ("pg1", ["haproxy"], True) in fake.updated and fake.paused == set()
