"""Self-healing scenarios, shared by the end-to-end tests and the benchmark: inject one
fault, then wait (no human command) for the repair's event on the master's bus. Each
returns ``{"mttr": seconds from the fault to the event, "event": its data}``.

Run them inside ``healing(bed)``: heal:enabled on for the demo cluster, beacons on.
"""

import contextlib
import time

from bed.client import Events
from checks import assert_one_leader_and_streaming_replicas

DB = ["pg1", "pg2", "pg3"]
MEMBERS = "pg[1-4]"
DATA_DIR = "/var/lib/postgresql/17/demo"
ETCD_DATA_DIR = "/var/lib/etcd/default"


def _override(bed, demo):
    bed.override_pillar({"pgsalt": {"clusters": {"demo": demo}}} if demo else None)


def _apply_heal(bed, hosts=MEMBERS):
    bed.salt(hosts, "saltutil.refresh_pillar")
    out = bed.salt(hosts, "state.apply", "pgsalt.heal")
    failed = {h: s for h, s in out.items()
              if not isinstance(s, dict) or any(not v.get("result") for v in s.values())}
    assert not failed, failed


def heal_pillar(bed, drift_interval=0, drift_repair=False, **demo):
    """Pillar for the demo cluster: self-healing on, DEMO merged. Only the master reads
    heal:drift:repair (orch.heal); the other heal keys need ``pgsalt.heal`` applied."""
    # attempts: the tests repair the same hosts many times within heal:window.
    _override(bed, dict(demo, heal={"enabled": True, "attempts": 20,
                                    "drift": {"interval": drift_interval,
                                              "repair": drift_repair}}))


@contextlib.contextmanager
def healing(bed, **settings):
    """Self-healing on (heal_pillar's SETTINGS) for the block; off and the beacons and the
    drift schedule removed afterwards."""
    heal_pillar(bed, **settings)
    _apply_heal(bed)
    try:
        yield
    finally:
        _override(bed, None)
        _apply_heal(bed)


def a_replica(bed):
    leader = assert_one_leader_and_streaming_replicas(bed, DB)
    return next(m for m in sorted(DB) if m != leader)


def outcome(minion, *outcomes, action=None, reason=None):
    """An event matcher: MINION's heal report with one of OUTCOMES (and ACTION, REASON)."""
    def match(tag, data):
        return (tag.startswith(f"pgsalt/heal/demo/{minion}/") and data.get("outcome") in outcomes
                and (action is None or action in data.get("actions", []))
                and (reason is None or reason in data.get("reason", "")))
    return match


def _timed(bed, inject, match, timeout=300):
    with Events("pgsalt/heal/*") as events:
        start = time.monotonic()
        inject()
        _, data = events.wait(match, timeout)
        return {"mttr": round(time.monotonic() - start, 1), "event": data,
                "events": [data for _, data in events.seen]}


def stopped_patroni(bed, host):
    # --no-block: a repair may start Patroni again before a slow stop ends, which cancels
    # the stop job (and would fail a blocking systemctl).
    return _timed(bed, lambda: bed.sh(host, "systemctl", "stop", "--no-block", "patroni"),
                  outcome(host, "repaired", action="start patroni"))


def unstartable_replica(bed, host):
    """PostgreSQL's control file gone and the server killed: it cannot start again."""
    return _timed(bed, lambda: bed.sh(host, "sh", "-c", f"rm -f {DATA_DIR}/global/pg_control; "
                                      "pkill -9 -x postgres; true"),
                  outcome(host, "repaired", action=f"reinit {host}"))


def removed_data_directory(bed, host):
    """The data directory emptied under a running replica: it is back once a new
    postmaster runs there and the replica streams."""
    started = _postmaster_start(bed, host)
    start = time.monotonic()
    bed.sh(host, "sh", "-c", f"rm -rf {DATA_DIR}/*")
    bed.wait(f"{host} recreated and streaming",
             lambda: _postmaster_start(bed, host, check=False) not in ("", started)
             and assert_one_leader_and_streaming_replicas(bed, DB), timeout=300, interval=2)
    return {"mttr": round(time.monotonic() - start, 1), "event": None}


def lost_etcd_data(bed, host):
    """The etcd member's data gone while the host stays up: etcd panics at every start
    ("tocommit out of range"), so a start does not help and the member is replaced."""
    return _timed(bed, lambda: bed.sh(host, "sh", "-c", "systemctl stop etcd && rm -rf "
                                      f"{ETCD_DATA_DIR}/member && systemctl start --no-block "
                                      "etcd"),
                  outcome(host, "repaired", action="replace etcd"))


def _postmaster_start(bed, host, check=True):
    return bed.psql("SELECT pg_postmaster_start_time()", node=host, port=5432, check=check)


def rebuilt_host(bed, host):
    """tb rebuild: the host wiped and booted with the same id; it enrolls by itself."""
    return _timed(bed, lambda: bed.tb("rebuild", host),
                  outcome(host, "enrolled", "failed", reason="minion start"), timeout=900)


def new_host(bed, host):
    """tb add for a host that pillar lists already: it enrolls by itself."""
    return _timed(bed, lambda: bed.tb("add", host),
                  outcome(host, "enrolled", "failed", reason="minion start"), timeout=900)


def hand_edited_haproxy(bed, host, outcomes=("reported",)):
    """A line appended to haproxy.cfg; found by the next scheduled drift check."""
    return _timed(bed, lambda: bed.sh(host, "sh", "-c",
                                      "echo '# hand edit' >> /etc/haproxy/haproxy.cfg"),
                  outcome(host, *outcomes, reason="pgsalt/drift/"), timeout=200)
