"""Break the deployed demo cluster while a client writes; heal it; report what happened.

A scenario names its victim (the primary, the sync standby, the client's balancer, ...),
injects the fault and returns how to heal it. When a failover is expected, healing waits
for a write that a new leader acknowledged; otherwise the fault is held for a while (and
the scenario may watch the cluster meanwhile). Every scenario returns the bed to a healthy
cluster (one leader, streaming replicas) before it reports, so that the next starts clean.
"""

import dataclasses
import time

from bed.cli import app_login, vip_address
from checker import check
from load import Writer, read_back

MEMBERS = ("pg1", "pg2", "pg3")
ADDRESSES = {"pg1": "10.77.0.11", "pg2": "10.77.0.12", "pg3": "10.77.0.13"}
REPOSITORY = "pg4"
PROFILES = {"default": {"ttl": 30, "loop_wait": 10, "retry_timeout": 10},
            "fast": {"ttl": 20, "loop_wait": 5, "retry_timeout": 5}}
ETCD_PORTS = "2379,2380"
PATRONI = "bin/patroni /etc/patroni"  # pkill -f pattern of the Patroni daemon
WAL_DISK = "/var/lib/postgresql/chaos-wal"  # a filesystem of pg_wal's own, small enough to fill
WAL_DISK_ROOM = 256  # MB that filesystem has beyond the WAL moved onto it
BALLAST = f"{WAL_DISK}/ballast"


def conninfo(hosts, port):
    """The demo application's login through HOSTS' PORT (libpq tries them in order);
    the host "vip" is the cluster's virtual IP."""
    user, password, db = app_login("demo")
    hosts = [hosts] if isinstance(hosts, str) else hosts
    if "vip" in hosts:
        ADDRESSES["vip"] = vip_address("demo")
    # A connection to a host that died gets no reset: without tcp_user_timeout the client
    # would wait for TCP's own retransmission timeout (minutes) before it tried again.
    return (f"host={','.join(ADDRESSES[h] for h in hosts)} port={port} dbname={db} "
            f"user={user} password={password} application_name=chaos tcp_user_timeout=3000")


def view(bed, asker):
    """Patroni's members as ASKER sees them; {} when ASKER does not answer."""
    cluster = bed.salt(asker, "pgsalt_patroni.cluster").get(asker)
    if not isinstance(cluster, dict):
        return {}
    return {m["name"]: (m["role"], m["state"]) for m in cluster.get("members", [])}


def _any_view(bed, members=MEMBERS):
    for asker in members:
        try:
            roles = view(bed, asker)
        except AssertionError:
            continue
        if roles:
            return roles
    return {}


def leader(bed, members=MEMBERS):
    for name, (role, state) in _any_view(bed, members).items():
        if role in ("leader", "primary", "master") and state == "running":
            return name
    return None


def healthy(bed):
    """One running leader and every other member streaming, as every member's Patroni
    reports it alike: a member whose loop is still busy (an old primary demoting itself)
    serves the view it had before the fault."""
    views = []
    for asker in MEMBERS:
        try:
            views.append(view(bed, asker))
        except AssertionError:
            return False
    return all(v == views[0] for v in views) and _healthy_view(views[0])


def _healthy_view(roles):
    leaders = [n for n, (r, s) in roles.items() if r in ("leader", "primary") and s == "running"]
    streaming = [n for n, (r, s) in roles.items() if s == "streaming"]
    return len(leaders) == 1 and len(streaming) == len(MEMBERS) - 1


def set_dynamic(bed, patch):
    """Patroni's dynamic configuration (the DCS holds it), e.g. a timing profile."""
    current = leader(bed)
    result = bed.salt(current, "pgsalt_patroni.patch_config", f"patch={patch}")
    assert isinstance(result.get(current), dict), result


def set_profile(bed, name):
    set_dynamic(bed, PROFILES[name])


def undo(ctx, fn, *args, **kwargs):
    """Register how to heal what a fault is about to break; healing runs them in reverse,
    also when the fault itself fails halfway."""
    ctx["undo"].append(lambda: fn(*args, **kwargs))


@dataclasses.dataclass
class Scenario:
    """fault(bed, ctx) injects the fault, registering each undo step first; watch(bed, ctx)
    runs while a fault without failover is held and returns notes; verify(bed, ctx) runs
    after healing and returns notes (both raise AssertionError on a broken expectation).
    via: the host whose balancer the client uses first (default: one the fault spares), or
    "vip" for the cluster's virtual IP."""

    fault: object
    victim: str = "primary"  # primary | sync | replica | client | vip (its holder)
    failover: bool = True
    hold: float = 0
    ports: tuple = (5000, 6432)
    watch: object = None
    verify: object = None
    fallback: bool = False  # the client lists every balancer, its own first
    via: str = None
    setup: object = None  # setup(bed) before the client starts; returns how to undo it


def _power_loss(bed, ctx):
    undo(ctx, bed.tb, "start", ctx["victim"])
    ctx["fault_exact"] = float(bed.tb("kill", ctx["victim"]).stdout.split()[-1])


def _stop_patroni(bed, ctx):
    undo(ctx, bed.sh, ctx["victim"], "systemctl", "start", "patroni")
    bed.sh(ctx["victim"], "systemctl", "stop", "patroni")


def _stop_patroni_repository_down(bed, ctx):
    """A graceful failover while the backup repository host is powered off: neither the
    old primary's last archive-push nor the promotion's archive-get may hold it up."""
    undo(ctx, bed.tb, "start", REPOSITORY)
    bed.tb("kill", REPOSITORY)
    time.sleep(2)
    _stop_patroni(bed, ctx)


def _freeze_patroni(bed, ctx):
    undo(ctx, bed.sh, ctx["victim"], "pkill", "-CONT", "-f", PATRONI)
    bed.sh(ctx["victim"], "pkill", "-STOP", "-f", PATRONI)


def _freeze_host(bed, ctx):
    undo(ctx, bed.tb, "thaw", ctx["victim"])
    bed.tb("freeze", ctx["victim"])


def _cut(bed, ctx):
    undo(ctx, bed.tb, "restore", ctx["victim"])
    bed.tb("cut", ctx["victim"])


def _cut_from_etcd(bed, ctx):
    """The victim reaches no etcd member (its own is cut from its peers, so it has no
    quorum either) while PostgreSQL and Patroni's API still reach the replicas."""
    undo(ctx, bed.tb, "heal", ctx["victim"])
    for other in MEMBERS:
        if other != ctx["victim"]:
            bed.tb("partition", ctx["victim"], other, "--ports", ETCD_PORTS)


def _etcd_member_then_leader(bed, ctx):
    """etcd loses a follower, gets it back, then loses its leader."""
    etcd_leader = bed.wait("an etcd leader",
                           lambda: bed.salt("pg1", "pgsalt_etcd.leader").get("pg1"), timeout=60)
    follower = next(m for m in MEMBERS if m != etcd_leader)
    undo(ctx, bed.sh, follower, "systemctl", "start", "etcd")
    bed.sh(follower, "systemctl", "stop", "etcd")
    time.sleep(ctx["hold"] / 2)
    bed.sh(follower, "systemctl", "start", "etcd")
    undo(ctx, bed.sh, etcd_leader, "systemctl", "start", "etcd")
    bed.sh(etcd_leader, "systemctl", "stop", "etcd")
    ctx["notes"]["etcd"] = f"stopped follower {follower}, then leader {etcd_leader}"


def _etcd_quorum(failsafe):
    def fault(bed, ctx):
        undo(ctx, set_dynamic, bed, {"failsafe_mode": False})
        set_dynamic(bed, {"failsafe_mode": failsafe})
        # The leader publishes the members it may keep serving with on its next loop.
        time.sleep(ctx["profile"]["loop_wait"] + 2)
        undo(ctx, bed.wait, "etcd back", lambda: leader(bed), timeout=120)
        ctx["quorum_lost_at"] = time.time()
        for member in MEMBERS:
            if member != ctx["victim"]:
                undo(ctx, bed.sh, member, "systemctl", "start", "etcd")
                bed.sh(member, "systemctl", "stop", "etcd")
    return fault


def _writes_during_hold(bed, ctx):
    """How many writes were acknowledged while the fault was held."""
    time.sleep(ctx["hold"])
    held = [a for a in list(ctx["writer"].attempts)
            if a.outcome == "ack" and a.started > ctx["fault_at"] + 1]
    return {"acked_during_fault": len(held)}


def _expect_writes(minimum):
    def watch(bed, ctx):
        notes = _writes_during_hold(bed, ctx)
        assert notes["acked_during_fault"] >= minimum, notes
        return notes
    return watch


def _expect_no_writes(bed, ctx):
    notes = _writes_during_hold(bed, ctx)
    # Without failsafe_mode the leader may serve until its lease (ttl) runs out, no longer.
    deadline = ctx["quorum_lost_at"] + ctx["profile"]["ttl"]
    late = [a for a in list(ctx["writer"].attempts) if a.outcome == "ack" and a.started > deadline]
    assert not late, f"{len(late)} writes acknowledged without a DCS quorum"
    return notes


def vip_holder(bed):
    """The balancer that holds the VIP now, or None."""
    vip = vip_address("demo")
    for member in MEMBERS:
        proc = bed.tb("sh", member, "ip", "-br", "addr", "show", "host0", check=False)
        if f" {vip}/" in proc.stdout:
            return member
    return None


def _stop_haproxy(bed, ctx):
    undo(ctx, bed.sh, ctx["victim"], "systemctl", "start", "haproxy")
    bed.sh(ctx["victim"], "systemctl", "stop", "haproxy")


def _vip_moves(bed, ctx):
    """When the VIP reached another balancer, and the writes through it meanwhile. The move
    is timed by the new holder's keepalived log (hosts share this machine's clock) from the
    power loss, or from just before the fault was injected (HAProxy's stop); polling the
    hosts' addresses sees it later."""
    moved = bed.wait("the VIP on another balancer", lambda: (lambda h: h not in (None, ctx[
        "victim"]) and h)(vip_holder(bed)), timeout=30, interval=0.1)
    seen = time.time() - ctx["fault_at"]
    since = ctx.get("fault_exact", ctx["fault_at"])
    log = bed.sh(moved, "journalctl", "-u", "keepalived", "-o", "short-unix", "--no-pager",
                 "--since", f"@{int(since)}")
    master = [float(line.split()[0]) for line in log.splitlines()
              if "Entering MASTER STATE" in line and float(line.split()[0]) >= since]
    assert master, f"{moved} holds the VIP but its keepalived never logged MASTER:\n{log}"
    ctx["notes"]["vip_moved_after"] = (f"{master[0] - since:.2f} s to {moved} (keepalived's "
                                       f"log; seen by polling after {seen:.1f} s)")
    return _expect_writes(100)(bed, ctx)


def _restart_balancer(bed, ctx):
    service = "pgbouncer" if ctx["port"] == 6432 else "haproxy"
    bed.sh(ctx["victim"], "systemctl", "restart", service)
    ctx["notes"]["restarted"] = service


def _laggard(bed, ctx):
    """The async replica falls behind (cut from the primary's PostgreSQL and from the
    repository), then the primary and the sync standby die together: the laggard is all
    that is left, and it must not be promoted."""
    laggard = ctx["async"]
    undo(ctx, bed.tb, "heal", laggard)
    bed.tb("partition", laggard, ctx["leader"], "--ports", "5432")
    bed.tb("partition", laggard, REPOSITORY)
    ctx["writer"].bulk(20000)  # about 2 MB of WAL: above maximum_lag_on_failover (1 MB)
    time.sleep(2)
    for host in (ctx["leader"], ctx["sync"]):
        undo(ctx, bed.tb, "start", host)
        bed.tb("kill", host)


def _laggard_stays_a_replica(bed, ctx):
    deadline = time.monotonic() + ctx["hold"]
    seen = set()
    while time.monotonic() < deadline:
        roles = view(bed, ctx["async"])
        role = roles.get(ctx["async"], (None,))[0]
        assert role not in ("leader", "primary", "master"), f"laggard promoted: {roles}"
        seen.add(role or "not answering")
        time.sleep(2)
    return {"laggard": f"{ctx['async']} stayed {' / '.join(sorted(seen))}"}


def _cut_and_diverge(bed, ctx):
    """The primary is cut off, then commits a row locally (synchronous_commit = local): WAL
    that no other server has. After the failover it must rewind and drop that row."""
    victim = ctx["victim"]
    bed.sh(victim, "psql", "-U", "postgres", "-d", "app", "-XAqc",
           "CREATE TABLE IF NOT EXISTS chaos_divergent (note text)")
    bed.wait("the table on every replica", lambda: all(
        bed.sh(m, "psql", "-U", "postgres", "-d", "app", "-XAtqc",
               "SELECT to_regclass('chaos_divergent') IS NOT NULL").strip() == "t"
        for m in MEMBERS), timeout=30)
    undo(ctx, bed.tb, "restore", victim)
    bed.tb("cut", victim)
    bed.sh(victim, "psql", "-U", "postgres", "-d", "app", "-XAqc",
           "SET synchronous_commit = local; INSERT INTO chaos_divergent VALUES ('diverged')")
    ctx["since"] = bed.sh(victim, "date", "+%Y-%m-%d %H:%M:%S").strip()


def _rejoined_by_rewind(bed, ctx):
    victim = ctx["victim"]
    rows = bed.sh(victim, "psql", "-U", "postgres", "-d", "app", "-XAtqc",
                  "SELECT count(*) FROM chaos_divergent").strip()
    assert rows == "0", f"{victim} kept the divergent row"
    log = bed.sh(victim, "journalctl", "-u", "patroni", "--since", ctx["since"], "--no-pager")
    assert "pg_rewind" in log, "no pg_rewind in the old primary's log"
    bed.sh(leader(bed), "psql", "-U", "postgres", "-d", "app", "-XAqc",
           "DROP TABLE chaos_divergent")
    return {"rejoin": "pg_rewind; divergent row gone"}


def _move_wal(bed, node, onto_own_disk):
    """Stop NODE's Patroni, move its pg_wal onto a filesystem of its own (a tmpfs) or back
    into the data directory, start Patroni. Patroni may have rebuilt the data directory
    meanwhile (a reinit leaves a plain pg_wal): then only the filesystem goes.

    pg_wal is a directory on that filesystem, not its mount point (as initdb --waldir on a
    WAL disk makes it): Patroni can remove or rename it when it rebuilds the member."""
    data = bed.sh(node, "sh", "-c", "sed -n 's/^ *data_dir: *//p' /etc/patroni/config.yml").strip()
    wal, disk_wal = f"{data}/pg_wal", f"{WAL_DISK}/pg_wal"
    onto = f"""set -e
mkdir -p {WAL_DISK}
mount -t tmpfs -o size=$(($(du -sm {wal} | cut -f1) + {WAL_DISK_ROOM}))M,mode=0700 \
  pgsalt-chaos-wal {WAL_DISK}
chown postgres:postgres {WAL_DISK}
install -d -o postgres -g postgres -m 0700 {disk_wal}
cp -a {wal}/. {disk_wal}/ || {{ umount {WAL_DISK}; rmdir {WAL_DISK}; exit 1; }}
rm -rf {wal}
ln -s {disk_wal} {wal}
chown -h postgres:postgres {wal}"""
    back = f"""set -e
rm -f {BALLAST}
if [ -L {wal} ]; then
  rm {wal}; mkdir -m 0700 {wal}; chown postgres:postgres {wal}
  if [ -d {disk_wal} ]; then cp -a {disk_wal}/. {wal}/; fi
fi
while mountpoint -q {WAL_DISK}; do umount {WAL_DISK}; done
rmdir {WAL_DISK}"""
    bed.sh(node, "systemctl", "stop", "patroni")
    try:
        bed.sh(node, "sh", "-c", onto if onto_own_disk else back)
    finally:
        bed.sh(node, "systemctl", "start", "patroni")
    bed.wait("a healthy cluster", lambda: healthy(bed), timeout=240, interval=2)


def _wal_disk_on_leader(bed):
    """The async replica's pg_wal gets a small filesystem of its own, then it becomes the
    leader (a switchover): the fault can fill that filesystem and nothing else."""
    lead, _, other = _roles(bed)
    _move_wal(bed, other, True)
    try:
        # In synchronous_mode only the sync standby may take over; no client writes yet.
        set_dynamic(bed, {"synchronous_mode": False})
        try:
            moved = bed.salt(other, "pgsalt_patroni.switch_to", lead).get(other)
        finally:
            set_dynamic(bed, {"synchronous_mode": True})
        assert isinstance(moved, dict) and moved["result"], moved
        bed.wait("a healthy cluster", lambda: healthy(bed), timeout=240, interval=2)
    except BaseException:
        _move_wal(bed, other, False)
        raise
    return lambda: _move_wal(bed, other, False)


def _fill_wal(bed, ctx):
    """A ballast file takes what pg_wal's filesystem has free; WAL keeps coming (segment
    switches under the client's writes) until PostgreSQL needs a segment that does not fit."""
    victim = ctx["victim"]
    undo(ctx, bed.sh, victim, "rm", "-f", BALLAST)
    ctx["since"] = bed.sh(victim, "date", "+%Y-%m-%d %H:%M:%S").strip()
    bed.sh(victim, "sh", "-c",
           f"fallocate -l $(df --output=avail -B1 {WAL_DISK} | tail -1) {BALLAST}")
    bed.sh(victim, "sh", "-c", "for i in $(seq 40); do psql -U postgres -XAtqc "
           "'SELECT pg_switch_wal()' >/dev/null 2>&1 || break; sleep 0.5; done")


def _wal_full_watch(bed, ctx):
    """What Patroni made of it while pg_wal stayed full: the victim's states, the leader."""
    seen = []
    deadline = time.monotonic() + ctx["hold"]
    while time.monotonic() < deadline:
        roles = _any_view(bed)
        state = "/".join(roles.get(ctx["victim"], ("gone", "?")))
        if not seen or seen[-1] != state:
            seen.append(state)
        time.sleep(2)
    log = bed.sh(ctx["victim"], "journalctl", "-u", "patroni", "--since", ctx["since"],
                 "--no-pager", check=False)
    assert "No space left on device" in log, f"{ctx['victim']}'s pg_wal never filled up"
    return {"victim_states": " → ".join(seen), "leader_while_full": leader(bed)}


SCENARIOS = {
    "primary-power-loss": Scenario(_power_loss),
    "primary-patroni-stop": Scenario(_stop_patroni),
    "primary-patroni-stop-repository-down": Scenario(_stop_patroni_repository_down),
    "primary-patroni-frozen": Scenario(_freeze_patroni),
    "primary-host-frozen": Scenario(_freeze_host),
    "primary-cut": Scenario(_cut),
    "primary-cut-from-etcd": Scenario(_cut_from_etcd),
    "etcd-member-then-leader-loss": Scenario(_etcd_member_then_leader, failover=False, hold=20,
                                             watch=_expect_writes(100)),
    "etcd-quorum-loss-failsafe-off": Scenario(_etcd_quorum(False), failover=False, hold=45,
                                              watch=_expect_no_writes),
    "etcd-quorum-loss-failsafe-on": Scenario(_etcd_quorum(True), failover=False, hold=45,
                                             watch=_expect_writes(300)),
    "sync-standby-power-loss": Scenario(_power_loss, victim="sync", failover=False, hold=30,
                                        watch=_expect_writes(100)),
    "balancer-power-loss": Scenario(_power_loss, victim="client", failover=False, hold=20,
                                    watch=_expect_writes(100), fallback=True),
    "vip-holder-power-loss": Scenario(_power_loss, victim="vip", via="vip", failover=False,
                                      hold=20, watch=_vip_moves, ports=(5000,)),
    "vip-holder-haproxy-stop": Scenario(_stop_haproxy, victim="vip", via="vip", failover=False,
                                        hold=20, watch=_vip_moves, ports=(5000,)),
    "balancer-restart": Scenario(_restart_balancer, victim="client", failover=False, hold=10,
                                 watch=_expect_writes(50)),
    "laggard-not-promoted": Scenario(_laggard, failover=False, hold=45, via="sync",
                                     fallback=True, watch=_laggard_stays_a_replica),
    "old-primary-rewinds": Scenario(_cut_and_diverge, verify=_rejoined_by_rewind),
    "primary-wal-full": Scenario(_fill_wal, setup=_wal_disk_on_leader, failover=False,
                                 hold=45, watch=_wal_full_watch),
}


def matrix(scenarios=None, profiles=None, ports=None):
    """The (scenario, profile, port) combinations make chaos runs, in its order."""
    return [(name, profile, port) for profile in profiles or sorted(PROFILES)
            for port in ports or (5000, 6432) for name in scenarios or SCENARIOS
            if port in SCENARIOS[name].ports]


def _roles(bed):
    roles = _any_view(bed)
    lead = next(n for n, (r, _) in roles.items() if r in ("leader", "primary"))
    sync = next((n for n, (r, _) in roles.items() if r == "sync_standby"), None)
    other = next(n for n in MEMBERS if n not in (lead, sync))
    return lead, sync, other


def run(bed, name, profile="default", port=5000, settle=5):
    """Run scenario NAME; returns the checker's result plus what the scenario noted."""
    scenario = SCENARIOS[name]
    bed.wait("a healthy cluster", lambda: healthy(bed), timeout=240, interval=2)
    set_profile(bed, profile)
    teardown = scenario.setup(bed) if scenario.setup else None
    try:
        return _run_under_load(bed, name, scenario, profile, port, settle)
    finally:
        if teardown:
            teardown()


def _run_under_load(bed, name, scenario, profile, port, settle):
    lead, sync, other = _roles(bed)
    if scenario.victim == "vip" and vip_holder(bed) == lead:
        # Keep the balancer's fault apart from a failover: the VIP leaves the leader.
        bed.sh(lead, "systemctl", "restart", "keepalived")
        bed.wait("the VIP off the leader", lambda: vip_holder(bed) not in (None, lead),
                 timeout=30)
    victim = {"primary": lead, "sync": sync, "replica": other, "client": other,
              "vip": vip_holder(bed)}[scenario.victim]
    # The client writes through a balancer the fault spares, unless it is the target.
    client = {"sync": sync, "vip": "vip", None: victim if scenario.victim == "client" else next(
        m for m in (other, sync, lead) if m != victim and m is not None)}[scenario.via]
    hosts = [client] + ([m for m in MEMBERS if m != client] if scenario.fallback else [])
    ctx = {"victim": victim, "leader": lead, "sync": sync, "async": other, "port": port,
           "hold": scenario.hold, "profile": PROFILES[profile], "notes": {}, "undo": [],
           "writer": Writer(conninfo(hosts, port))}
    ctx["writer"].prepare()
    ctx["writer"].start()
    try:
        time.sleep(settle)
        result = _inject_and_heal(bed, scenario, ctx)
    finally:
        ctx["writer"].stop()
    result.update(scenario=name, profile=profile, port=port, victim=victim,
                  new_leader=leader(bed), notes=ctx["notes"])
    return result


def _inject_and_heal(bed, scenario, ctx):
    writer = ctx["writer"]
    ctx["fault_at"] = fault_at = time.time()
    victim_addr = ADDRESSES[ctx["victim"]]
    try:
        scenario.fault(bed, ctx)
        if scenario.failover:
            # Healing waits for a write that started after the fault and that another
            # server acknowledged: the victim must not be back before the failover is done.
            bed.wait("a write acknowledged by a new leader",
                     lambda: any(a.outcome == "ack" and a.started > fault_at
                                 and a.addr != victim_addr for a in list(writer.attempts)),
                     timeout=150, interval=0.5)
        elif scenario.watch:
            ctx["notes"].update(scenario.watch(bed, ctx))
        else:
            time.sleep(scenario.hold)
    finally:
        for step in reversed(ctx["undo"]):
            step()
    bed.wait("the cluster healthy again", lambda: healthy(bed), timeout=300, interval=2)
    bed.wait("a write acknowledged after healing",
             lambda: any(a.outcome == "ack" and a.started > time.time() - 5
                         for a in list(writer.attempts)), timeout=60, interval=0.5)
    if scenario.verify:
        ctx["notes"].update(scenario.verify(bed, ctx))
    return check(writer.stop(), read_back(conninfo(MEMBERS, 5000)), fault_at)
