"""Unit tests of the balancer-side modules a switchover drives: _modules/pgsalt_pgbouncer.py
(PgBouncer's admin console through psql) and _modules/pgsalt_haproxy.py (HAProxy's runtime
API on its admin socket).

PgBouncer is a fake ``cmd.run_all`` that answers as psql does against the admin console;
HAProxy is a fake runtime API served on a real Unix socket, one command per connection as
HAProxy's non-interactive mode does.
"""

import os
import re
import socketserver
import tempfile
import threading
from unittest.mock import MagicMock, patch

import loaders
import pytest
from loaders import run_result
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

pooler = loaders.load("pgsalt_pgbouncer_under_test", "_modules/pgsalt_pgbouncer.py")
haproxy = loaders.load("pgsalt_haproxy_under_test", "_modules/pgsalt_haproxy.py")


# --------------------------------------------------------------------------
# PgBouncer
# --------------------------------------------------------------------------


class FakeBouncer:
    """PgBouncer's admin console as ``psql -c`` meets it through cmd.run_all."""

    def __init__(self, hang=False, broken=None, unreachable=None):
        self.paused = False
        self.unreachable = unreachable  # stderr of psql when the console is not there
        self.hang = hang          # PAUSE waits for transactions that never end
        self.broken = broken      # stderr of a PAUSE that fails otherwise
        self.commands = []

    def __call__(self, cmd, runas=None, python_shell=None, timeout=None, ignore_retcode=False,
                 env=None, **kwargs):
        # as the postgres OS user, whom PgBouncer's hba file lets in by peer authentication
        setpriv = ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
        assert cmd[:5] == setpriv and env == {"HOME": "/var/lib/postgresql"}, (cmd, env)
        cmd = cmd[5:]
        assert cmd[:3] == ["psql", "-XAq", "--csv"] and cmd[-2] == "-c", cmd
        assert cmd[cmd.index("-h") + 1] == "/var/run/postgresql"
        assert cmd[cmd.index("-p") + 1] == "6432"
        assert cmd[cmd.index("-d") + 1] == "pgbouncer" and cmd[cmd.index("-U") + 1] == "postgres"
        assert runas is None and python_shell is False and ignore_retcode
        assert timeout, "a console command without a timeout can hang the minion"
        sql = cmd[-1]
        self.commands.append(sql)
        if self.unreachable:
            return run_result(stderr=self.unreachable, retcode=2)
        verb = sql.split(" ")[0]
        if verb == "PAUSE":
            if self.paused:
                return run_result(stderr="ERROR:  already suspended/paused\n", retcode=1)
            if self.broken:
                return run_result(stderr=self.broken, retcode=2)
            self.paused = True
            if self.hang:  # cmd.run_all's answer when it kills the command
                return run_result(stdout=f"{' '.join(cmd)} : Timed out after {timeout} seconds",
                                  retcode=1)
            return run_result()
        if verb == "RESUME":
            if not self.paused:
                message = (f"ERROR:  database {sql.split(' ')[1]} is not paused\n" if " " in sql
                           else "ERROR:  pooler is not paused/suspended\n")
                return run_result(stderr=message, retcode=1)
            self.paused = False
            return run_result()
        if sql == "SHOW DATABASES":
            return run_result(stdout=(
                "name,host,port,database,force_user,pool_size,min_pool_size,reserve_pool,"
                "server_lifetime,pool_mode,max_connections,current_connections,paused,disabled\n"
                "app,10.77.0.100,5000,app,,20,0,0,3600,transaction,0,3,1,0\n"
                "pgbouncer,,6432,pgbouncer,pgbouncer,2,0,0,0,statement,0,0,0,0\n"))
        if sql == "SHOW POOLS":
            return run_result(stdout=(
                "database,user,cl_active,cl_waiting,cl_active_cancel_req,"
                "cl_waiting_cancel_req,sv_active,sv_active_cancel,sv_being_canceled,sv_idle,"
                "sv_used,sv_tested,sv_login,maxwait,maxwait_us,pool_mode\n"
                "app,app,4,7,0,0,0,0,0,0,0,0,0,3,120000,transaction\n"))
        raise AssertionError(f"unexpected console command {sql!r}")


@pytest.fixture
def bouncer():
    return FakeBouncer()


@pytest.fixture
def resume():
    return MagicMock(name="pgsalt_pgbouncer.resume", return_value={"paused": False})


@pytest.fixture
def configure_loader_modules(bouncer, resume):
    return {
        pooler: {"__salt__": {"cmd.run_all": bouncer}},
        haproxy: {"__salt__": {"pgsalt_pgbouncer.resume": resume}},
    }


def test_pause_and_resume_change_once_and_accept_a_re_run(bouncer):
    assert pooler.pause(timeout=5) == {"paused": True, "changed": True}
    assert bouncer.paused
    assert pooler.pause(timeout=5) == {"paused": True, "changed": False}
    assert bouncer.paused, "a re-run of PAUSE must not resume the pooler"
    assert pooler.resume() == {"paused": False, "changed": True}
    assert pooler.resume() == {"paused": False, "changed": False}
    assert bouncer.commands == ["PAUSE", "PAUSE", "RESUME", "RESUME"]
    assert not bouncer.paused


@pytest.mark.parametrize(("bouncer", "database", "message"), [
    (FakeBouncer(hang=True), None, "PgBouncer PAUSE: no answer in 5s"),
    (FakeBouncer(hang=True), "app", "PgBouncer PAUSE app: no answer in 5s"),
    (FakeBouncer(broken="psql: error: server closed the connection unexpectedly\n"), None,
     "PgBouncer PAUSE: psql: error: server closed the connection unexpectedly"),
], ids=["timeout", "timeout-one-database", "connection-lost"])
def test_a_failed_pause_is_undone_and_raised(bouncer, database, message):
    with pytest.raises(CommandExecutionError) as err:
        pooler.pause(database, timeout=5)
    assert str(err.value) == message
    resume = f"RESUME {database}" if database else "RESUME"
    assert bouncer.commands == [resume.replace("RESUME", "PAUSE"), resume]
    assert not bouncer.paused


@pytest.mark.parametrize("bouncer", [FakeBouncer(unreachable=(
    'psql: error: connection to server on socket "/var/run/postgresql/.s.PGSQL.6432" failed: '
    "No such file or directory\n"))])
def test_resume_raises_when_the_console_cannot_be_reached(bouncer):
    with pytest.raises(CommandExecutionError, match="PgBouncer RESUME: .*No such file"):
        pooler.resume()


def test_databases_and_pools_parse_the_console_csv():
    assert pooler.databases() == {
        "app": {"host": "10.77.0.100", "port": "5000", "paused": True},
        "pgbouncer": {"host": "", "port": "6432", "paused": False},
    }
    assert pooler.pools() == {"app/app": {"cl_active": 4, "cl_waiting": 7, "sv_active": 0,
                                          "sv_idle": 0, "maxwait": 3}}


# --------------------------------------------------------------------------
# HAProxy
# --------------------------------------------------------------------------

STAT_FIELDS = (
    "pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,"
    "wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,"
    "throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,"
    "check_duration").split(",")


def stat_row(pxname, svname, status):
    row = dict.fromkeys(STAT_FIELDS, "")
    row.update(pxname=pxname, svname=svname, status=status, weight="1", act="1")
    return ",".join(row[f] for f in STAT_FIELDS)


class FakeHAProxy:
    """HAProxy's runtime API: ``show stat`` and ``set server B/S health up|down``."""

    def __init__(self, primary, others=None):
        self.backends = {haproxy.PRIMARY: dict(primary), **(others or {})}
        self.stuck = set()  # servers whose health checks put them back at once
        self.delay = 0      # "show stat" answers before a health change shows
        self.pending = []
        self.commands = []

    def answer(self, line):
        self.commands.append(line)
        if line == "show stat":
            if self.pending and self.delay:
                self.delay -= 1
            else:
                for servers, name, status in self.pending:
                    servers[name] = status
                self.pending = []
            rows = [stat_row("stats", "FRONTEND", "OPEN")]
            for pxname, servers in self.backends.items():
                rows.append(stat_row(pxname, "FRONTEND", "OPEN"))
                rows += [stat_row(pxname, name, status) for name, status in servers.items()]
                rows.append(stat_row(pxname, "BACKEND", "UP"))
            return "# " + ",".join(STAT_FIELDS) + ",\n" + "\n".join(
                r + "," for r in rows) + "\n\n"
        verb, _, rest = line.partition(" server ")
        if verb == "set":
            target, _, health = rest.partition(" health ")
            backend, _, name = target.partition("/")
            servers = self.backends.get(backend, {})
            if name not in servers:
                return "No such server.\n\n"
            if name not in self.stuck and servers[name] != "MAINT":
                self.pending.append((servers, name, {"up": "UP", "down": "DOWN"}[health]))
            return "\n"
        return "Unknown command.\n\n"

    def primary(self):
        return self.backends[haproxy.PRIMARY]


@pytest.fixture
def lb():
    return FakeHAProxy({"pg1": "UP", "pg2": "DOWN", "pg3": "DOWN 1/2"},
                       {"postgres_replicas": {"pg1": "DOWN", "pg2": "UP 1/3", "pg3": "UP"}})


@pytest.fixture
def sock(lb):
    directory = tempfile.mkdtemp(prefix="hap", dir="/tmp")
    path = os.path.join(directory, "admin.sock")

    class Handler(socketserver.StreamRequestHandler):
        def handle(self):
            line = self.rfile.readline().decode()
            assert line.endswith("\n")
            self.wfile.write(lb.answer(line.strip()).encode())

    server = socketserver.ThreadingUnixStreamServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()
    os.unlink(path)
    os.rmdir(directory)


class Clock(loaders.FakeClock):
    def sleep(self, seconds):
        assert len(self.sleeps) < 1000, "route_primary waits forever"
        super().sleep(seconds)


@pytest.fixture
def clock():
    fake = Clock()
    with patch.object(haproxy, "time", fake):
        yield fake


def test_servers_reads_one_backend_from_show_stat(sock):
    assert haproxy.servers(sock=sock) == {"pg1": "UP", "pg2": "DOWN", "pg3": "DOWN"}
    assert haproxy.servers("postgres_replicas", sock=sock) == {"pg1": "DOWN", "pg2": "UP",
                                                              "pg3": "UP"}
    with pytest.raises(CommandExecutionError, match="HAProxy runtime API"):
        haproxy.servers(sock=sock + ".missing")


def test_route_primary_marks_the_leader_up_the_others_down_then_resumes(lb, sock, clock,
                                                                       resume):
    resume.side_effect = lambda: lb.commands.append("RESUME") or {"paused": False}
    lb.delay = 2
    ret = haproxy.route_primary("pg2", resume_pooler=True, sock=sock)
    assert ret["leader"] == "pg2"
    assert ret["servers"] == {"pg1": "DOWN", "pg2": "UP", "pg3": "DOWN"}
    assert lb.commands == ["show stat",
                           "set server postgres_primary/pg1 health down",
                           "set server postgres_primary/pg2 health up",
                           "set server postgres_primary/pg3 health down",
                           "show stat", "show stat", "show stat", "RESUME"]
    assert clock.sleeps == [0.2, 0.2] and ret["seconds"] == 0.4
    assert lb.backends["postgres_replicas"] == {"pg1": "DOWN", "pg2": "UP 1/3", "pg3": "UP"}


@pytest.mark.parametrize("resume_pooler", [True, False])
@pytest.mark.parametrize("problem", ["unknown leader", "never alone"])
def test_route_primary_fails_and_still_resumes_the_pooler(lb, sock, clock, resume, problem,
                                                         resume_pooler):
    if problem == "unknown leader":
        leader, message = "pg9", "has no server pg9 (it has pg1, pg2, pg3)"
    else:
        lb.stuck.add("pg1")  # the old leader's check still finds it primary
        leader, message = "pg2", "does not route to pg2 alone after 3s"
    with pytest.raises(CommandExecutionError, match=re.escape(message)):
        haproxy.route_primary(leader, timeout=3, resume_pooler=resume_pooler, sock=sock)
    assert resume.call_count == (1 if resume_pooler else 0)
    if problem == "unknown leader":
        assert lb.commands == ["show stat"]  # nothing was changed
    else:
        assert 3 <= sum(clock.sleeps) <= 3.5
        assert lb.primary()["pg2"] == "UP"
