"""Break the deployed demo cluster while a client writes; heal it; report what happened.

Each scenario returns the bed to a healthy cluster (one leader, streaming replicas)
before it reports, so that the next one starts clean.
"""

import time

from checker import check
from load import Writer, read_back

MEMBERS = ("pg1", "pg2", "pg3")
PROFILES = {"default": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10},
            "fast": {"ttl": 20, "loop_wait": 5, "retry_timeout": 5}}


def view(bed, asker):
    cluster = bed.salt(asker, "pgsalt_patroni.cluster")[asker]
    if not isinstance(cluster, dict):
        return {}
    return {m["name"]: (m["role"], m["state"]) for m in cluster.get("members", [])}


def leader(bed, members=MEMBERS):
    for asker in members:
        try:
            roles = view(bed, asker)
        except AssertionError:
            continue
        for name, (role, state) in roles.items():
            if role in ("leader", "primary", "master") and state == "running":
                return name
    return None


def healthy(bed):
    """One running leader and every other member streaming, as Patroni reports it."""
    roles = view(bed, MEMBERS[0]) or view(bed, MEMBERS[1])
    leaders = [n for n, (r, s) in roles.items() if r in ("leader", "primary") and s == "running"]
    streaming = [n for n, (r, s) in roles.items() if s == "streaming"]
    return len(leaders) == 1 and len(streaming) == len(MEMBERS) - 1


def set_profile(bed, name):
    """Patroni's timing through its dynamic configuration (the DCS holds it)."""
    current = leader(bed)
    result = bed.salt(current, "pgsalt_patroni.patch_config", f"patch={PROFILES[name]}")
    assert isinstance(result.get(current), dict), result


def _power_loss(bed, victim):
    bed.tb("kill", victim)
    return lambda: bed.tb("start", victim)


def _stop_patroni(bed, victim):
    bed.sh(victim, "systemctl", "stop", "patroni")
    return lambda: bed.sh(victim, "systemctl", "start", "patroni")


SCENARIOS = {
    "primary-power-loss": _power_loss,
    "primary-patroni-stop": _stop_patroni,
}


def run(bed, scenario, profile="default", port=5000, conninfo=None, settle=5):
    """Run SCENARIO against the primary; returns the checker's result plus timings."""
    bed.wait("a healthy cluster", lambda: healthy(bed), timeout=180)
    set_profile(bed, profile)
    victim = leader(bed)
    client_host = next(m for m in MEMBERS if m != victim)
    info = conninfo(client_host, port)
    writer = Writer(info)
    writer.prepare()
    writer.start()
    time.sleep(settle)
    fault_at = time.time()
    victim_addr = bed.status()[victim]["address"]
    heal = SCENARIOS[scenario](bed, victim)
    try:
        # Healing waits for a write that started after the fault and that another
        # server acknowledged: the victim must not be back before the failover is done.
        bed.wait("a write acknowledged by a new leader",
                 lambda: any(a.outcome == "ack" and a.started > fault_at
                             and a.addr != victim_addr for a in list(writer.attempts)),
                 timeout=150, interval=0.5)
    finally:
        heal()
    bed.wait("the cluster healthy again", lambda: healthy(bed), timeout=240, interval=2)
    time.sleep(2)
    attempts = writer.stop()
    result = check(attempts, read_back(info), fault_at)
    result.update(scenario=scenario, profile=profile, port=port, victim=victim,
                  new_leader=leader(bed))
    return result
