"""
Unit tests for the pgsalt_patroni execution and state modules.

The execution module is tested against a real (tiny) HTTP server imitating
Patroni's REST API; the state module with MagicMock'ed ``__salt__``.
"""

import base64
import json
import pathlib
import shutil
import socket
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from unittest.mock import MagicMock, patch

import pytest
from loaders import load
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]
USERNAME = "patroni-admin"
PASSWORD = "s3cr3t-Pa55word"




patroni_mod = load("pgsalt_patroni_execmod", "_modules/pgsalt_patroni.py")
patroni_state = load("pgsalt_patroni_statemod", "_states/pgsalt_patroni.py")


@pytest.fixture
def configure_loader_modules():
    return {
        patroni_mod: {"__opts__": {}, "__context__": {}},
        patroni_state: {"__opts__": {"test": False}, "__salt__": {}},
    }


# --------------------------------------------------------------------------
# a fake Patroni
# --------------------------------------------------------------------------


class FakePatroni:
    """State of the imitated Patroni plus a record of the requests it got."""

    def __init__(self):
        self.status = {
            "state": "running",
            "role": "primary",
            "timeline": 3,
            "xlog": {"location": 67108864},
            "patroni": {"version": "4.1.0", "scope": "demo", "name": "pg1"},
        }
        self.primary_code = 200
        self.standby_leader_code = 503
        self.replica_code = 503
        self.cluster = {
            "scope": "demo",
            "members": [
                {"name": "pg1", "role": "leader", "state": "running", "timeline": 3},
                {"name": "pg2", "role": "sync_standby", "state": "streaming", "timeline": 3},
                {
                    "name": "pg3",
                    "role": "replica",
                    "state": "streaming",
                    "timeline": 3,
                    "pending_restart": True,
                },
            ],
        }
        self.config = {
            "ttl": 30,
            "loop_wait": 10,
            "postgresql": {"parameters": {"max_connections": 100, "wal_level": "replica"}},
        }
        self.config_code = 200
        self.switchover_response = (200, 'Successfully switched over to "pg2"')
        self.promoted = None  # the status /primary answers with once a switchover is posted
        self.restart_response = (200, "restarted successfully")
        self.requests = []
        self.status_sequence = []

    def authorized(self, headers):
        expected = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
        return headers.get("Authorization") == f"Basic {expected}"


def _make_handler(fake):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output quiet
            pass

        def _body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            return json.loads(raw) if raw else None

        def _record(self, body=None):
            fake.requests.append(
                {
                    "method": self.command,
                    "path": self.path,
                    "headers": dict(self.headers),
                    "body": body,
                }
            )

        def _send(self, code, payload):
            if isinstance(payload, (dict, list)):
                data, ctype = json.dumps(payload).encode(), "application/json"
            else:
                data, ctype = str(payload).encode(), "text/html"
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _check_auth(self):
            if fake.authorized(self.headers):
                return True
            data = b"no auth header received"
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="Patroni"')
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return False

        def do_GET(self):
            self._record()
            if fake.status_sequence and self.path == "/patroni":
                fake.status = fake.status_sequence.pop(0)
            status = fake.status
            if self.path == "/patroni":
                self._send(200, status)
            elif self.path == "/cluster":
                self._send(200, fake.cluster)
            elif self.path in ("/primary", "/"):
                self._send(fake.primary_code, status)
            elif self.path == "/standby-leader":
                self._send(fake.standby_leader_code, status)
            elif self.path == "/replica":
                self._send(fake.replica_code, status)
            elif self.path == "/health":
                self._send(200 if status.get("state") == "running" else 503, status)
            elif self.path == "/config":
                if fake.config_code == 200:
                    self._send(200, fake.config)
                else:
                    self.send_error(fake.config_code)
            else:
                self.send_error(404)

        def do_PATCH(self):
            body = self._body()
            self._record(body)
            if not self._check_auth():
                return
            if self.path != "/config":
                self.send_error(404)
                return
            _merge_patch(fake.config, body)
            self._send(200, fake.config)

        def do_POST(self):
            body = self._body()
            self._record(body)
            if not self._check_auth():
                return
            if self.path == "/switchover":
                if fake.promoted:
                    fake.status, fake.primary_code = fake.promoted, 200
                self._send(*fake.switchover_response)
            elif self.path == "/failover":
                self._send(200, f'Successfully failed over to "{body["candidate"]}"')
            elif self.path == "/restart":
                self._send(*fake.restart_response)
            elif self.path == "/reload":
                self._send(202, "reload scheduled")
            elif self.path == "/reinitialize":
                self._send(200, "reinitialize started")
            else:
                self.send_error(404)

    return Handler


def _merge_patch(target, patch_):
    for key, value in patch_.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_patch(target[key], value)
        else:
            target[key] = value


@pytest.fixture
def fake():
    return FakePatroni()


@pytest.fixture
def server(fake):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _write_config(path, port, auth=True):
    restapi = {"listen": f"0.0.0.0:{port}", "connect_address": f"127.0.0.1:{port}"}
    if auth:
        restapi["authentication"] = {"username": USERNAME, "password": PASSWORD}
    path.write_text(
        json.dumps({"scope": "demo", "name": "pg1", "restapi": restapi}), encoding="utf-8"
    )
    return str(path)


@pytest.fixture
def cfg(server, tmp_path):
    """Path of a Patroni config file pointing at the fake server, with auth."""
    return _write_config(tmp_path / "config.yml", server.server_address[1])


@pytest.fixture
def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _assert_no_password(value):
    assert PASSWORD not in repr(value)
    assert base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode() not in repr(value)


# --------------------------------------------------------------------------
# execution module
# --------------------------------------------------------------------------


def test_member_and_cluster(cfg, fake):
    status = patroni_mod.member(config_file=cfg)
    assert status["role"] == "primary"
    assert status["patroni"]["name"] == "pg1"
    assert patroni_mod.cluster(config_file=cfg)["scope"] == "demo"
    assert patroni_mod.leader(config_file=cfg) == "pg1"
    # GETs go without credentials
    assert all("Authorization" not in r["headers"] for r in fake.requests)


def test_leader_none_and_standby_leader(cfg, fake):
    fake.cluster["members"] = [{"name": "pg2", "role": "replica", "state": "running"}]
    assert patroni_mod.leader(config_file=cfg) is None
    fake.cluster["members"] = [{"name": "pg9", "role": "standby_leader", "state": "running"}]
    assert patroni_mod.leader(config_file=cfg) == "pg9"


@pytest.mark.parametrize("role", ["primary", "master"])
def test_is_ready_leader(cfg, fake, role):
    fake.status["role"] = role
    ret = patroni_mod.is_ready(config_file=cfg)
    assert ret["ready"] is True
    assert ret["role"] == role
    assert ret["state"] == "running"
    assert set(ret) == {"ready", "role", "state", "reason"}
    assert ("GET", "/primary") in {(r["method"], r["path"]) for r in fake.requests}


def test_is_ready_leader_without_lock(cfg, fake):
    fake.primary_code = 503
    ret = patroni_mod.is_ready(config_file=cfg)
    assert ret["ready"] is False
    assert "503" in ret["reason"]


def test_is_ready_streaming_replica(cfg, fake):
    fake.status.update(role="replica", replication_state="streaming")
    ret = patroni_mod.is_ready(config_file=cfg)
    assert ret == {
        "ready": True,
        "role": "replica",
        "state": "running",
        "reason": ret["reason"],
    }
    assert "streaming" in ret["reason"]


def test_is_ready_replica_not_streaming(cfg, fake):
    fake.status.update(role="replica", replication_state="in archive recovery")
    ret = patroni_mod.is_ready(config_file=cfg)
    assert ret["ready"] is False
    assert ret["role"] == "replica"
    assert "in archive recovery" in ret["reason"]


def test_is_ready_old_patroni_replica_falls_back_to_replica_check(cfg, fake):
    fake.status.update(role="replica")  # Patroni < 3.0.4: no replication_state
    fake.replica_code = 200
    assert patroni_mod.is_ready(config_file=cfg)["ready"] is True
    fake.replica_code = 503
    assert patroni_mod.is_ready(config_file=cfg)["ready"] is False


def test_is_ready_not_running(cfg, fake):
    fake.status.update(state="starting", role="replica")
    ret = patroni_mod.is_ready(config_file=cfg)
    assert ret["ready"] is False
    assert ret["state"] == "starting"
    assert "starting" in ret["reason"]


def test_is_ready_standby_leader(cfg, fake):
    fake.status.update(role="standby_leader")
    fake.standby_leader_code = 200
    assert patroni_mod.is_ready(config_file=cfg)["ready"] is True


def test_wait_ready_polls_until_ready(cfg, fake):
    starting = dict(fake.status, state="starting", role="replica")
    streaming = dict(fake.status, role="replica", replication_state="streaming")
    fake.status_sequence = [starting, starting, streaming]
    ret = patroni_mod.wait_ready(timeout=10, interval=0.05, config_file=cfg)
    assert ret["ready"] is True
    assert ret["role"] == "replica"


def test_wait_ready_times_out(cfg, fake):
    fake.status.update(role="replica", replication_state="in archive recovery")
    ret = patroni_mod.wait_ready(timeout=0.3, interval=0.05, config_file=cfg)
    assert ret["ready"] is False
    assert "not ready after" in ret["reason"]


def _joining_replica(fake, server, listed=True):
    """The fake answers as pg1 (the config file's name), a replica that just started;
    pg3 leads, at the same REST API."""
    fake.status.update(role="replica", state="running", replication_state="in archive recovery")
    api = f"http://127.0.0.1:{server.server_address[1]}/patroni"
    fake.cluster["members"] = [{"name": "pg3", "role": "leader", "api_url": api}] + (
        [{"name": "pg1", "role": "replica", "state": "starting", "api_url": api}]
        if listed else [])


def _wake_ups(fake):
    return [r["body"] for r in fake.requests if r["method"] == "PATCH"]


def test_wake_leader_waits_until_the_member_is_in_the_cluster(cfg, fake, server):
    # not in the DCS yet: the leader's loop would find no member to make a slot for
    _joining_replica(fake, server, listed=False)
    assert patroni_mod.wake_leader(config_file=cfg, wait=0.3) is None
    assert _wake_ups(fake) == []
    _joining_replica(fake, server)
    before = json.loads(json.dumps(fake.config))
    assert patroni_mod.wake_leader(config_file=cfg) == "pg3"
    # a patch that changes nothing: it removes a key the configuration does not have
    assert _wake_ups(fake) == [{"pgsalt_wake_up": None}]
    assert fake.config == before
    # no other member to wake: this one leads, or there is no leader
    fake.cluster["members"][1]["role"] = "leader"
    fake.cluster["members"] = fake.cluster["members"][1:]
    assert patroni_mod.wake_leader(config_file=cfg) is None
    fake.cluster["members"][0]["role"] = "replica"
    assert patroni_mod.wake_leader(config_file=cfg) is None
    assert len(_wake_ups(fake)) == 1


def test_wait_ready_wakes_the_leader_once_for_a_joining_replica(cfg, fake, server):
    _joining_replica(fake, server)
    joining = dict(fake.status)
    fake.status_sequence = [joining, joining, dict(joining, replication_state="streaming")]
    ret = patroni_mod.wait_ready(timeout=10, interval=0.05, config_file=cfg, wake=True)
    assert ret["ready"] is True
    assert _wake_ups(fake) == [{"pgsalt_wake_up": None}]


def test_health(cfg, fake, tmp_path, free_port):
    assert patroni_mod.health(config_file=cfg) is True
    fake.status["state"] = "stopped"
    assert patroni_mod.health(config_file=cfg) is False
    dead = _write_config(tmp_path / "dead.yml", free_port)
    assert patroni_mod.health(config_file=dead) is False


def test_switchover_sends_auth_and_json(cfg, fake):
    ret = patroni_mod.switchover(candidate="pg2", config_file=cfg)
    assert ret["result"] is True
    assert ret["status"] == 200
    assert "pg2" in ret["message"]
    post = [r for r in fake.requests if r["method"] == "POST"]
    assert len(post) == 1
    assert post[0]["path"] == "/switchover"
    assert post[0]["body"] == {"leader": "pg1", "candidate": "pg2"}
    assert post[0]["headers"]["Content-Type"] == "application/json"
    assert fake.authorized(post[0]["headers"])
    _assert_no_password(ret)


def test_accepts_writes_only_on_what_postgresql_says(cfg, fake, free_port):
    assert patroni_mod.accepts_writes(config_file=cfg) is True
    # mid-promotion Patroni answers 200 from its own idea of the role, with no location
    fake.status = {"state": "running", "role": "primary"}
    assert patroni_mod.accepts_writes(config_file=cfg) is False
    fake.status, fake.primary_code = {"state": "running", "role": "replica", "xlog": {}}, 503
    assert patroni_mod.accepts_writes(config_file=cfg) is False
    assert patroni_mod.accepts_writes(url=f"http://127.0.0.1:{free_port}",
                                      config_file=cfg) is False


def test_switch_to_posts_to_the_leader_it_is_given_and_returns_once_writable(cfg, fake, server):
    fake.promoted = fake.status
    fake.status, fake.primary_code = {"state": "running", "role": "replica", "xlog": {}}, 503
    url = f"http://127.0.0.1:{server.server_address[1]}"
    ret = patroni_mod.switch_to("pg1", timeout=5, config_file=cfg, name="pg2",
                                leader_url=url + "/patroni")
    assert ret["result"] is True and ret["message"] == "pg2 is the primary"
    # no lookups of its own name or of the leader's API: straight to the switchover
    posts = [r for r in fake.requests if r["method"] == "POST"]
    assert [(r["path"], r["body"]) for r in posts] == [
        ("/switchover", {"leader": "pg1", "candidate": "pg2"})]
    assert {r["path"] for r in fake.requests if r["method"] == "GET"} == {"/primary"}
    _assert_no_password(ret)


def test_switchover_explicit_leader_without_candidate(cfg, fake):
    ret = patroni_mod.switchover(leader="pg1", config_file=cfg)
    assert ret["result"] is True
    post = [r for r in fake.requests if r["method"] == "POST"]
    assert post[0]["body"] == {"leader": "pg1"}
    # no /cluster lookup when the leader is given
    assert not [r for r in fake.requests if r["path"] == "/cluster"]


def test_switchover_refused(cfg, fake):
    fake.switchover_response = (412, "candidate name does not match with sync_standby")
    ret = patroni_mod.switchover(candidate="pg3", config_file=cfg)
    assert ret == {
        "result": False,
        "message": "candidate name does not match with sync_standby",
        "status": 412,
    }
    assert patroni_mod.__context__["retcode"] == 1


def test_switchover_without_leader(cfg, fake):
    fake.cluster["members"] = [{"name": "pg2", "role": "replica"}]
    ret = patroni_mod.switchover(candidate="pg2", config_file=cfg)
    assert ret["result"] is False
    assert "no leader" in ret["message"]
    assert not [r for r in fake.requests if r["method"] == "POST"]


def test_unsafe_call_without_credentials_gets_401(server, tmp_path, fake):
    cfg = _write_config(tmp_path / "noauth.yml", server.server_address[1], auth=False)
    ret = patroni_mod.switchover(candidate="pg2", config_file=cfg)
    assert ret["result"] is False
    assert ret["status"] == 401
    assert "authentication" in ret["message"]
    assert "Authorization" not in fake.requests[-1]["headers"]


def test_failover_restart_reload_reinit(cfg, fake):
    assert patroni_mod.failover("pg3", config_file=cfg)["result"] is True
    assert fake.requests[-1]["body"] == {"candidate": "pg3"}

    assert patroni_mod.restart(config_file=cfg) == {
        "result": True,
        "restarted": True,
        "message": "restarted successfully",
        "status": 200,
    }
    assert fake.requests[-1]["body"] == {}
    fake.restart_response = (503, "restart conditions are not satisfied")
    ret = patroni_mod.restart(pending_only=True, config_file=cfg)
    assert fake.requests[-1]["body"] == {"restart_pending": True}
    assert ret["result"] is True
    assert ret["restarted"] is False

    ret = patroni_mod.reload(config_file=cfg)
    assert ret == {"result": True, "message": "reload scheduled", "status": 202}

    assert patroni_mod.reinit(force=True, config_file=cfg)["result"] is True
    assert fake.requests[-1]["path"] == "/reinitialize"
    assert fake.requests[-1]["body"] == {"force": True}
    for req in fake.requests:
        if req["method"] == "POST":
            assert fake.authorized(req["headers"])


def test_get_and_patch_config(cfg, fake):
    assert patroni_mod.get_config(config_file=cfg)["ttl"] == 30
    new = patroni_mod.patch_config(
        {"ttl": 20, "postgresql": {"parameters": {"max_connections": 200}}}, config_file=cfg
    )
    assert new["ttl"] == 20
    assert new["postgresql"]["parameters"] == {"max_connections": 200, "wal_level": "replica"}
    patch_req = fake.requests[-1]
    assert patch_req["method"] == "PATCH"
    assert patch_req["body"] == {"ttl": 20, "postgresql": {"parameters": {"max_connections": 200}}}
    assert fake.authorized(patch_req["headers"])
    _assert_no_password(new)


def test_get_config_http_error_has_status(cfg, fake):
    fake.config_code = 502
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.get_config(config_file=cfg)
    assert "HTTP 502" in str(excinfo.value)
    assert "GET /config" in str(excinfo.value)


def test_patch_config_401_error_hides_password(server, tmp_path, fake):
    cfg = _write_config(tmp_path / "noauth.yml", server.server_address[1], auth=False)
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.patch_config({"ttl": 20}, config_file=cfg)
    assert "HTTP 401" in str(excinfo.value)


def test_unreachable_gives_clear_error(tmp_path, free_port):
    cfg = _write_config(tmp_path / "config.yml", free_port)
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.member(config_file=cfg)
    text = str(excinfo.value)
    assert f"Patroni REST API at http://127.0.0.1:{free_port} is not reachable" in text
    _assert_no_password(text)

    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.switchover(candidate="pg2", leader="pg1", config_file=cfg)
    assert "is not reachable" in str(excinfo.value)
    _assert_no_password(str(excinfo.value))

    ret = patroni_mod.is_ready(config_file=cfg)
    assert ret["ready"] is False
    assert ret["state"] is None
    assert "not reachable" in ret["reason"]


def test_url_override_and_userinfo(server, fake, tmp_path):
    port = server.server_address[1]
    missing = str(tmp_path / "missing.yml")
    with patch.object(patroni_mod, "DEFAULT_CONFIG_FILE", missing):
        assert patroni_mod.member(url=f"http://127.0.0.1:{port}")["role"] == "primary"
        ret = patroni_mod.reload(url=f"http://{USERNAME}:{PASSWORD}@127.0.0.1:{port}/")
    assert ret["result"] is True
    assert fake.authorized(fake.requests[-1]["headers"])
    assert fake.requests[-1]["path"] == "/reload"
    _assert_no_password(ret)


def test_missing_config_without_url(tmp_path):
    missing = str(tmp_path / "nope.yml")
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.cluster(config_file=missing)
    assert "does not exist" in str(excinfo.value)
    with patch.object(patroni_mod, "DEFAULT_CONFIG_FILE", missing):
        with pytest.raises(CommandExecutionError) as excinfo:
            patroni_mod.is_ready()
    assert missing in str(excinfo.value)


def test_bad_yaml_does_not_leak(tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text(f"restapi:\n  authentication: {{password: {PASSWORD}\n  x: [\n")
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.member(config_file=str(bad))
    assert "not valid YAML" in str(excinfo.value)
    _assert_no_password(str(excinfo.value))


def test_https_when_certfile_set(tmp_path):
    cfg = tmp_path / "tls.yml"
    cfg.write_text(
        "restapi:\n"
        "  connect_address: pg1.example:8008\n"
        "  certfile: /etc/patroni/tls/server.crt\n"
        "  keyfile: /etc/patroni/tls/server.key\n"
        "  cafile: /etc/patroni/tls/ca.crt\n"
        "ctl:\n"
        "  certfile: /etc/patroni/tls/ctl.crt\n"
        "  keyfile: /etc/patroni/tls/ctl.key\n"
    )
    conn = patroni_mod._connection(config_file=str(cfg))
    assert conn["base_url"] == "https://pg1.example:8008"
    assert conn["cafile"] == "/etc/patroni/tls/ca.crt"
    assert conn["certfile"] == "/etc/patroni/tls/ctl.crt"
    assert conn["keyfile"] == "/etc/patroni/tls/ctl.key"


def test_config_dir_and_listen_fallback(tmp_path):
    conf_dir = tmp_path / "patroni"
    conf_dir.mkdir()
    (conf_dir / "00-base.yml").write_text("restapi:\n  listen: 0.0.0.0:8010\n")
    (conf_dir / "10-auth.yml").write_text(
        f"restapi:\n  authentication:\n    username: u\n    password: {PASSWORD}\n"
    )
    conn = patroni_mod._connection(config_file=str(conf_dir))
    assert conn["base_url"] == "http://127.0.0.1:8010"
    assert conn["username"] == "u"


# --------------------------------------------------------------------------
# state module: ready
# --------------------------------------------------------------------------


def _ready(ready, role="replica", state="running", reason=""):
    return {"ready": ready, "role": role, "state": state, "reason": reason}


def test_state_ready_already():
    is_ready = MagicMock(return_value=_ready(True, role="primary"))
    wait_ready = MagicMock()
    salt = {"pgsalt_patroni.is_ready": is_ready, "pgsalt_patroni.wait_ready": wait_ready}
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.ready("patroni-ready")
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert "primary" in ret["comment"]
    wait_ready.assert_not_called()


def test_state_ready_test_mode():
    is_ready = MagicMock(return_value=_ready(False, state="starting", reason="starting up"))
    wait_ready = MagicMock()
    salt = {"pgsalt_patroni.is_ready": is_ready, "pgsalt_patroni.wait_ready": wait_ready}
    with (
        patch.dict(patroni_state.__salt__, salt),
        patch.dict(patroni_state.__opts__, {"test": True}),
    ):
        ret = patroni_state.ready("patroni-ready", timeout=60)
    assert ret["result"] is None
    assert "would wait for" in ret["comment"]
    assert ret["changes"]["old"] == {"state": "starting"}
    wait_ready.assert_not_called()


def test_state_ready_waits():
    is_ready = MagicMock(return_value=_ready(False, state="starting"))
    wait_ready = MagicMock(return_value=_ready(True, role="replica", state="running"))
    salt = {"pgsalt_patroni.is_ready": is_ready, "pgsalt_patroni.wait_ready": wait_ready}
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.ready("patroni-ready", timeout=42)
    assert ret["result"] is True
    assert ret["changes"] == {
        "old": {"state": "starting"},
        "new": {"role": "replica", "state": "running"},
    }
    wait_ready.assert_called_once_with(timeout=10, wake=True)


def test_state_ready_timeout():
    is_ready = MagicMock(return_value=_ready(False, state=None, reason="not reachable"))
    wait_ready = MagicMock(
        return_value=_ready(False, state="running", reason="replication_state is 'stopped'")
    )
    salt = {"pgsalt_patroni.is_ready": is_ready, "pgsalt_patroni.wait_ready": wait_ready,
            "service.status": MagicMock(return_value=True)}
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.ready("patroni-ready", timeout=1)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "replication_state is 'stopped'" in ret["comment"]


def test_state_ready_fails_at_once_when_the_service_died():
    is_ready = MagicMock(return_value=_ready(False, state=None, reason="not reachable"))
    wait_ready = MagicMock(return_value=_ready(False, state=None, reason="not reachable"))
    salt = {"pgsalt_patroni.is_ready": is_ready, "pgsalt_patroni.wait_ready": wait_ready,
            "service.status": MagicMock(return_value=False)}
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.ready("patroni-ready", timeout=300)
    assert ret["result"] is False
    assert "patroni service is not running" in ret["comment"]
    wait_ready.assert_called_once_with(timeout=10, wake=True)


def test_state_ready_passes_connection_args():
    is_ready = MagicMock(return_value=_ready(True))
    with patch.dict(patroni_state.__salt__, {"pgsalt_patroni.is_ready": is_ready}):
        patroni_state.ready("x", url="http://10.0.0.1:8008", config_file="/tmp/p.yml")
    is_ready.assert_called_once_with(url="http://10.0.0.1:8008", config_file="/tmp/p.yml")


# --------------------------------------------------------------------------
# state module: dynamic_config
# --------------------------------------------------------------------------

CURRENT = {
    "ttl": 30,
    "loop_wait": 10,
    "synchronous_mode": True,
    "postgresql": {
        "use_pg_rewind": True,
        "parameters": {"max_connections": 100, "shared_buffers": "128MB", "hot_standby": "on"},
    },
}
CLUSTER = {
    "members": [
        {"name": "pg1", "role": "leader"},
        {"name": "pg2", "role": "replica", "pending_restart": True},
    ]
}


def _salt_for_config(*configs):
    return {
        "pgsalt_patroni.get_config": MagicMock(side_effect=list(configs)),
        "pgsalt_patroni.patch_config": MagicMock(),
        "pgsalt_patroni.cluster": MagicMock(return_value=CLUSTER),
    }


def test_state_dynamic_config_in_sync():
    wanted = {
        "ttl": "30",
        "synchronous_mode": "on",
        "postgresql": {"parameters": {"max_connections": "100", "hot_standby": True}},
    }
    salt = _salt_for_config(CURRENT)
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.dynamic_config("dcs", wanted)
    assert ret["result"] is True
    assert ret["changes"] == {}
    salt["pgsalt_patroni.patch_config"].assert_not_called()
    assert "pg2" in ret["comment"]


def test_state_dynamic_config_test_mode():
    wanted = {"ttl": 20, "postgresql": {"parameters": {"max_connections": 200, "work_mem": "8MB"}}}
    salt = _salt_for_config(CURRENT)
    with (
        patch.dict(patroni_state.__salt__, salt),
        patch.dict(patroni_state.__opts__, {"test": True}),
    ):
        ret = patroni_state.dynamic_config("dcs", wanted)
    assert ret["result"] is None
    params_old = {"max_connections": 100, "work_mem": None}
    params_new = {"max_connections": 200, "work_mem": "8MB"}
    assert ret["changes"] == {
        "old": {"ttl": 30, "postgresql": {"parameters": params_old}},
        "new": {"ttl": 20, "postgresql": {"parameters": params_new}},
    }
    salt["pgsalt_patroni.patch_config"].assert_not_called()


def test_state_dynamic_config_applies():
    wanted = {
        "ttl": 30,
        "postgresql": {"parameters": {"max_connections": 200, "shared_buffers": "128MB"}},
    }
    after = json.loads(json.dumps(CURRENT))
    after["postgresql"]["parameters"]["max_connections"] = 200
    salt = _salt_for_config(CURRENT, after)
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.dynamic_config("dcs", wanted)
    assert ret["result"] is True
    assert ret["changes"] == {
        "old": {"postgresql": {"parameters": {"max_connections": 100}}},
        "new": {"postgresql": {"parameters": {"max_connections": 200}}},
    }
    salt["pgsalt_patroni.patch_config"].assert_called_once_with(
        {"postgresql": {"parameters": {"max_connections": 200}}}
    )
    assert "pending restart: pg2" in ret["comment"]


def test_state_dynamic_config_verify_fails():
    wanted = {"ttl": 20}
    salt = _salt_for_config(*([CURRENT] * 20))
    with (
        patch.dict(patroni_state.__salt__, salt),
        patch.object(patroni_state, "_VERIFY_INTERVAL", 0),
    ):
        ret = patroni_state.dynamic_config("dcs", wanted)
    assert ret["result"] is False
    assert "ttl" in ret["comment"]


def test_state_dynamic_config_delete_key():
    wanted = {"postgresql": {"use_pg_rewind": None, "use_slots": None}}
    salt = _salt_for_config(CURRENT)
    with (
        patch.dict(patroni_state.__salt__, salt),
        patch.dict(patroni_state.__opts__, {"test": True}),
    ):
        ret = patroni_state.dynamic_config("dcs", wanted)
    assert ret["result"] is None
    assert ret["changes"] == {
        "old": {"postgresql": {"use_pg_rewind": True}},
        "new": {"postgresql": {"use_pg_rewind": None}},
    }


def test_state_dynamic_config_patch_refused():
    salt = _salt_for_config(CURRENT)
    salt["pgsalt_patroni.patch_config"].side_effect = CommandExecutionError(
        "Patroni REST API PATCH /config returned HTTP 401: no auth header received"
    )
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.dynamic_config("dcs", {"ttl": 20})
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "HTTP 401" in ret["comment"]


def test_state_dynamic_config_end_to_end_with_fake_patroni(cfg, fake):
    """The state over the real execution module and the fake Patroni."""
    salt = {
        "pgsalt_patroni.get_config": lambda **kw: patroni_mod.get_config(config_file=cfg, **kw),
        "pgsalt_patroni.patch_config": lambda p, **kw: patroni_mod.patch_config(
            p, config_file=cfg, **kw
        ),
        "pgsalt_patroni.cluster": lambda **kw: patroni_mod.cluster(config_file=cfg, **kw),
    }
    wanted = {"loop_wait": 5, "postgresql": {"parameters": {"max_connections": 300}}}
    with patch.dict(patroni_state.__salt__, salt):
        ret = patroni_state.dynamic_config("dcs", wanted)
        assert ret["result"] is True
        assert ret["changes"]["new"] == wanted
        assert fake.config["loop_wait"] == 5
        assert fake.config["postgresql"]["parameters"]["wal_level"] == "replica"
        again = patroni_state.dynamic_config("dcs", wanted)
    assert again["result"] is True
    assert again["changes"] == {}
    assert "pg3" in again["comment"]


# --------------------------------------------------------------------------
# HTTPS with a real (self-signed) certificate
# --------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path):
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "api.crt", tmp_path / "api.key"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


@pytest.fixture
def tls_server(fake, tls_files):
    cert, key = tls_files
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(fake))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    # like restapi.verify_client: required
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(cert)
    httpd.socket = ctx.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _tls_config(path, port, cert, key, cafile=True, client_cert=True):
    lines = [
        "restapi:",
        f"  connect_address: 127.0.0.1:{port}",
        f"  certfile: {cert}",
        f"  keyfile: {key}",
        "  authentication:",
        f"    username: {USERNAME}",
        f"    password: {PASSWORD}",
    ]
    if cafile:
        lines.append(f"  cafile: {cert}")
    if client_cert:
        lines += ["ctl:", f"  certfile: {cert}", f"  keyfile: {key}"]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_https_with_ca_and_client_cert(tls_server, tls_files, tmp_path, fake):
    cert, key = tls_files
    cfg = _tls_config(tmp_path / "tls.yml", tls_server.server_address[1], cert, key)
    assert patroni_mod.member(config_file=cfg)["role"] == "primary"
    assert patroni_mod.switchover(candidate="pg2", config_file=cfg)["result"] is True
    assert fake.authorized(fake.requests[-1]["headers"])


def test_https_unverifiable_server_is_reported(tls_server, tls_files, tmp_path):
    cert, key = tls_files
    cfg = _tls_config(tmp_path / "tls.yml", tls_server.server_address[1], cert, key, cafile=False)
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.member(config_file=cfg)
    text = str(excinfo.value)
    assert f"https://127.0.0.1:{tls_server.server_address[1]} is not reachable" in text
    assert "CERTIFICATE_VERIFY_FAILED" in text
    _assert_no_password(text)


def test_https_client_cert_is_needed_when_server_requires_it(tls_server, tls_files, tmp_path):
    cert, key = tls_files
    port = tls_server.server_address[1]
    cfg = _tls_config(tmp_path / "tls.yml", port, cert, key, client_cert=False)
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.member(config_file=cfg)
    assert "is not reachable" in str(excinfo.value)
    # restapi.verify_client makes the server certificate double as the client one
    with open(cfg, "a", encoding="utf-8") as handle:
        handle.write("  verify_client: required\n")
    assert patroni_mod.member(config_file=cfg)["role"] == "primary"


def test_https_missing_cafile_is_reported(tmp_path):
    cfg = tmp_path / "tls.yml"
    cfg.write_text(
        "restapi:\n"
        "  connect_address: 127.0.0.1:1\n"
        "  certfile: /nonexistent/server.crt\n"
        "  cafile: /nonexistent/ca.crt\n"
        "  authentication: {username: u, password: " + PASSWORD + "}\n"
    )
    with pytest.raises(CommandExecutionError) as excinfo:
        patroni_mod.member(config_file=str(cfg))
    assert "Cannot set up TLS" in str(excinfo.value)
    assert "/nonexistent/ca.crt" in str(excinfo.value)
    _assert_no_password(str(excinfo.value))
