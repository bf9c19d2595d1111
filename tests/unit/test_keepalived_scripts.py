"""The scripts salt/keepalived installs, run as keepalived runs them: the track script
against a small HTTP server, the notify hook with a systemd-run that records its arguments."""

import http.server
import json
import os
import socket
import subprocess
import threading

import loaders
import pytest

pytestmark = pytest.mark.unit

FILES = loaders.ROOT / "salt" / "keepalived" / "files"


def _server(status):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(status)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _check(port):
    return subprocess.run([FILES / "pgsalt-check-haproxy", "127.0.0.1", str(port), "/alive"],
                          capture_output=True, timeout=10).returncode


@pytest.mark.parametrize(("status", "passes"), [(200, True), (503, False)])
def test_check_passes_when_haproxy_answers_200(status, passes):
    server = _server(status)
    try:
        assert (_check(server.server_port) == 0) is passes
    finally:
        server.shutdown()


def test_check_fails_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert _check(port) != 0


@pytest.mark.parametrize("state", ["MASTER", "BACKUP", "FAULT", "STOP"])
def test_notify_sends_a_salt_event_without_waiting_for_it(tmp_path, state):
    record = tmp_path / "systemd-run.args"
    fake = tmp_path / "systemd-run"
    fake.write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {record}\n')
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}")
    subprocess.run([FILES / "pgsalt-notify", "/opt/salt/bin/salt-call", "demo", "10.77.0.250",
                    "pg2", "INSTANCE", "pgsalt_demo", state, "199"],
                   env=env, check=True, timeout=10)
    args = record.read_text().splitlines()
    # a unit of its own: keepalived goes on at once, and a STOP event outlives keepalived
    assert args[:4] == ["--quiet", "--no-block", "--collect", "--property=RuntimeMaxSec=60"]
    assert args[4:7] == ["/opt/salt/bin/salt-call", "event.send",
                         f"pgsalt/vip/demo/{state.lower()}"]
    assert json.loads(args[7]) == {"host": "pg2", "vip": "10.77.0.250", "state": state,
                                   "priority": 199}
