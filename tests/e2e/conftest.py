"""End-to-end tests on the test bed: one bed, and one deployed demo cluster, per session.

TB_KEEP=1 leaves the bed up after the session (handy while developing).
"""

import json
import os
import pathlib
import subprocess
import time

import pytest

TB = pathlib.Path(__file__).resolve().parents[1] / "testbed" / "tb"


class Bed:
    """The tb CLI, as the tests use it."""

    def tb(self, *args, check=True, timeout=900):
        proc = subprocess.run([str(TB), *args], capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise AssertionError(f"tb {' '.join(args)} failed ({proc.returncode}):\n"
                                 f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def status(self):
        return {h["name"]: h for h in json.loads(self.tb("status").stdout)}

    def sh(self, node, *cmd, check=True):
        proc = self.tb("sh", node, *cmd, check=False)
        if check and proc.returncode != 0:
            raise AssertionError(f"{node}: {' '.join(cmd)} failed: {proc.stderr}{proc.stdout}")
        return proc.stdout

    def salt(self, *args, timeout=900):
        """salt ... --out=json --static, parsed."""
        proc = self.tb("salt", *args, "--out=json", "--static", check=False, timeout=timeout)
        try:
            return json.loads(proc.stdout)
        except json.JSONDecodeError as exc:
            raise AssertionError(f"salt {' '.join(args)}: {proc.stdout}{proc.stderr}") from exc

    def orchestrate(self, sls, pillar=None, test=False, timeout=1200):
        """Run an orchestration; returns (ok, {state id: state return})."""
        args = ["state.orchestrate", sls, "--out=json"]
        if pillar is not None:
            args.append("pillar=" + json.dumps(pillar))
        if test:
            args.append("test=True")
        proc = self.tb("salt-run", *args, check=False, timeout=timeout)
        out = proc.stdout
        data = json.loads(out[out.index("{"):]) if "{" in out else {}
        states = next(iter(data.get("data", {}).values()), {})
        if not isinstance(states, dict):
            return False, {"error": states}
        by_id = {v.get("__id__", k): v for k, v in states.items()}
        ok = data.get("retcode", 1) == 0 and all(v.get("result") for v in by_id.values())
        return ok, by_id

    def psql(self, sql, node="pg1", port=5000, db=None, cluster="demo", check=True):
        args = ["psql", "--node", node, "--port", str(port), "--cluster", cluster, "-c", sql]
        if db:
            args += ["--db", db]
        return self.tb(*args, check=check).stdout.strip()

    def wait(self, what, fn, timeout=120, interval=1.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = fn()
                if last:
                    return last
            except (AssertionError, subprocess.SubprocessError) as exc:
                last = exc
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}: {last!r}")


@pytest.fixture(scope="session")
def bed():
    b = Bed()
    b.tb("up", "--nodes", "3")
    b.tb("salt-run", "saltutil.sync_all")
    yield b
    if not os.environ.get("TB_KEEP"):
        b.tb("down", check=False)


def changed_states(by_id):
    """The states that changed something on a host, from an orchestration's return."""
    changed = []
    for sid, ret in by_id.items():
        inner = ret.get("changes", {}).get("ret") or {}
        for minion, states in inner.items() if isinstance(inner, dict) else []:
            for key, st in (states.items() if isinstance(states, dict) else []):
                if isinstance(st, dict) and st.get("changes"):
                    changed.append(f"{sid}/{minion}/{key}")
    return changed


@pytest.fixture(scope="session")
def demo(bed):
    """The demo cluster deployed on pg1..pg3 (a no-op when it is deployed already)."""
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo"})
    assert ok, json.dumps(by_id, indent=1)[-6000:]
    return by_id
