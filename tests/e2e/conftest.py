"""End-to-end tests on the test bed: one bed, and one deployed demo cluster, per session.

TB_KEEP=1 leaves the bed up after the session (handy while developing).
"""

import json
import os

import pytest
from bed.client import Bed


@pytest.fixture(scope="session")
def bed():
    b = Bed()
    b.tb("up", "--nodes", "4")
    b.tb("salt-run", "saltutil.sync_all")
    yield b
    if not os.environ.get("TB_KEEP"):
        b.tb("down", check=False)


def _host_states(by_id):
    """(step, minion, state key, state return) of every host state in an orchestration's
    return."""
    for sid, ret in by_id.items():
        inner = ret.get("changes", {}).get("ret") or {}
        for minion, states in inner.items() if isinstance(inner, dict) else []:
            for key, st in (states.items() if isinstance(states, dict) else []):
                if isinstance(st, dict):
                    yield sid, minion, key, st


def changed_states(by_id):
    """The states that changed something on a host, from an orchestration's return."""
    return [f"{sid}/{minion}/{key}" for sid, minion, key, st in _host_states(by_id)
            if st.get("changes")]


def failures(by_id):
    """What failed in an orchestration, for an assertion's message: each failed step's
    comment and each host state that failed, with its comment."""
    steps = {sid: ret.get("comment") for sid, ret in by_id.items() if ret.get("result") is False}
    states = {f"{sid}/{minion}/{key}": st.get("comment")
              for sid, minion, key, st in _host_states(by_id) if st.get("result") is False}
    return json.dumps({"steps": steps, "host states": states}, indent=1)[-6000:]


@pytest.fixture(scope="session")
def demo(bed):
    """The demo cluster deployed on pg1..pg3, with its repository host pg4 (a no-op when
    it is deployed already)."""
    ok, by_id = bed.orchestrate("orch.deploy", {"cluster": "demo"})
    assert ok, failures(by_id)
    return by_id
