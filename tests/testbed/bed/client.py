"""A Python API over the tb CLI, for the end-to-end tests and the chaos suite."""

import json
import os
import pathlib
import selectors
import signal
import subprocess
import time

from . import master

TB = pathlib.Path(__file__).resolve().parents[1] / "tb"


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
        # In a test=True run a state that would change something reports None.
        ok = data.get("retcode", 1) == 0 and all(
            v.get("result") is not False for v in by_id.values())
        return ok, by_id

    def override_pillar(self, data=None):
        """Merge DATA over the repo's pillar until the next call (None: back to the repo's).
        The master reads it at every pillar compile; minions get it with their next job."""
        master.OVERRIDE.write_text(json.dumps(data or {}) + "\n")

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


class Events:
    """The master's event bus, recorded from now on (``salt-run state.event TAGMATCH``):
    ``with Events("pgsalt/heal/*") as ev: ...; ev.wait(lambda tag, data: ...)``."""

    def __init__(self, tagmatch):
        self.proc = subprocess.Popen([str(TB), "salt-run", "state.event", tagmatch],
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, start_new_session=True)
        self.seen = []
        # state.event subscribes once it runs: give it that second before the fault.
        time.sleep(3)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        # tb runs salt-run as its child: the whole session goes.
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def _read(self, timeout):
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                return None
        line = self.proc.stdout.readline()
        tag, _, raw = line.partition("\t")
        try:
            return tag.strip(), json.loads(raw)
        except json.JSONDecodeError:
            return None

    def wait(self, match, timeout=300):
        """The first event (tag, data) since the start for which MATCH(tag, data) holds."""
        for tag, data in self.seen:
            if match(tag, data):
                return tag, data
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            event = self._read(max(0.1, deadline - time.monotonic()))
            if event:
                self.seen.append(event)
                if match(*event):
                    return event
        raise AssertionError(f"no matching event within {timeout}s; seen: "
                             f"{[tag for tag, _ in self.seen]}")
