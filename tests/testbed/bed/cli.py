"""tb: the test bed's command line. The verbs' names are stable; tests and tools use them."""

import argparse
import json
import sys
import time

import yaml

from . import bed, master
from . import config as C
from .sh import BedError, run, say


def _timed(label, fn, *args, **kwargs):
    started = time.monotonic()
    result = fn(*args, **kwargs)
    say(f"{label} in {time.monotonic() - started:.1f}s")
    return result


def cmd_up(a):
    _timed(f"bed up ({a.nodes} hosts)", bed.up, a.nodes, a.os)
    print(json.dumps(bed.status(), indent=1))


def cmd_down(a):
    _timed("bed down", bed.down, a.purge)


def cmd_status(a):
    print(json.dumps(bed.status(), indent=1))


def cmd_image(a):
    from . import image

    bed.preflight()
    for os_name in a.os or sorted(C.RELEASES):
        _timed(f"image {os_name}", image.ensure_image, os_name)


def cmd_sh(a):
    if not a.cmd:
        raise BedError("usage: tb sh NODE CMD...")
    proc = bed.host(a.node).sh(*a.cmd)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    return proc.returncode


def _one(verb):
    def handler(a):
        h = bed.host(a.node)
        if verb == "kill":
            killed = h.kill()
            if killed:
                # Hosts share this machine's clock: their logs can be compared with it.
                print(f"{h.name} lost power at {killed:.6f}")
        elif verb == "start":
            bed.start([h])
        elif verb in ("freeze", "thaw"):
            h.freeze(verb == "freeze")
        elif verb == "cut":
            run(["ip", "link", "set", h.veth, "nomaster"])
        elif verb == "restore":
            run(["ip", "link", "set", h.veth, "master", C.BRIDGE])
        elif verb == "heal" and "bedpart" in h.netns("nft", "list", "tables").stdout:
            h.netns("nft", "delete", "table", "inet", "bedpart")
    return handler


def cmd_partition(a):
    h, peer = bed.host(a.node), bed.host(a.peer)
    # With --ports only those TCP ports are cut, in both directions (as client or server).
    ports = f"{{ {a.ports} }}" if a.ports else None
    match_in = [f"tcp dport {ports}", f"tcp sport {ports}"] if ports else [""]
    rules_in = " ".join(f"ip saddr {peer.address} {m} drop;" for m in match_in)
    rules_out = " ".join(f"ip daddr {peer.address} {m} drop;" for m in match_in)
    rules = (f"table inet bedpart {{\n chain in {{ type filter hook input priority -10; "
             f"{rules_in} }}\n chain out {{ type filter hook output priority -10; "
             f"{rules_out} }}\n}}\n")
    h.netns("nft", "-f", "-", input=rules)


def cmd_add(a):
    added = _timed(f"{' '.join(a.node)} added", bed.add, a.node, a.os)
    print(json.dumps([{"name": h.name, "address": h.address, "os": h.os} for h in added]))


def cmd_rebuild(a):
    _timed(f"host {a.node} rebuilt", bed.rebuild, a.node)


def cmd_salt(a):
    return master.cli("salt", a.args)


def cmd_salt_run(a):
    return master.cli("salt-run", a.args)


def _cluster_pillar(cluster):
    for path in sorted((C.REPO / "pillar" / "pgsalt").glob("*.sls")):
        data = yaml.safe_load(path.read_text()) or {}
        spec = data.get("pgsalt", {}).get("clusters", {}).get(cluster)
        if spec:
            yield spec


def _decrypted(value):
    """A pillar value as the master sees it: GPG-encrypted ones decrypted with its key."""
    if not value.startswith("-----BEGIN PGP MESSAGE-----"):
        return value
    return run(["gpg", "--homedir", str(master.GPG_KEYDIR), "--batch", "--quiet", "--decrypt"],
               input=value).stdout


def app_login(cluster):
    """The demo application's role, password and database, from the bed's pillar."""
    for spec in _cluster_pillar(cluster):
        if spec.get("databases"):
            db, props = next(iter(spec["databases"].items()))
            owner = props["owner"]
            return owner, _decrypted(spec["roles"][owner]["password"]), db
    raise BedError(f"no cluster {cluster} with a database in pillar/pgsalt/")


def vip_address(cluster):
    """The cluster's virtual IP (vip:address) from the bed's pillar."""
    for spec in _cluster_pillar(cluster):
        if (spec.get("vip") or {}).get("address"):
            return spec["vip"]["address"]
    raise BedError(f"no vip:address for cluster {cluster} in pillar/pgsalt/")


def cmd_psql(a):
    import psycopg

    user, password, db = app_login(a.cluster)
    # The VIP is reached from the machine over the bed's bridge, like any host's address.
    name, address = ("VIP", vip_address(a.cluster)) if a.vip else (a.node, bed.host(a.node).address)
    try:
        conn = psycopg.connect(host=address, port=a.port, user=user, password=password,
                               dbname=a.db or db, connect_timeout=5, autocommit=True)
    except psycopg.OperationalError as exc:
        raise BedError(f"cannot connect to {name} {address}:{a.port} ({exc}); "
                       "is the cluster deployed? (make demo)") from exc
    with conn:
        cur = conn.execute(a.c or "SELECT inet_server_addr(), pg_is_in_recovery()")
        for row in cur.fetchall() if cur.description else []:
            print("|".join("" if v is None else str(v) for v in row))


def parser():
    p = argparse.ArgumentParser(prog="tb", description="pgsalt's multi-host test bed")
    sub = p.add_subparsers(dest="verb", required=True)
    s = sub.add_parser("up", help="boot pg1..pgN and wait for every minion")
    s.add_argument("--nodes", type=int, default=3)
    s.add_argument("--os", choices=sorted(C.RELEASES), default=C.DEFAULT_OS)
    s.set_defaults(fn=cmd_up)
    s = sub.add_parser("down", help="stop everything; --purge also resets hosts and keys")
    s.add_argument("--purge", action="store_true")
    s.set_defaults(fn=cmd_down)
    sub.add_parser("status", help="JSON list of hosts").set_defaults(fn=cmd_status)
    s = sub.add_parser("image", help="build (or check) the cached host images")
    s.add_argument("--os", action="append", choices=sorted(C.RELEASES))
    s.set_defaults(fn=cmd_image)
    for verb, help_ in (("salt", "salt CLI against the bed master"),
                        ("salt-run", "salt-run CLI against the bed master")):
        s = sub.add_parser(verb, help=help_, add_help=False)
        s.add_argument("args", nargs=argparse.REMAINDER)
        s.set_defaults(fn=cmd_salt if verb == "salt" else cmd_salt_run)
    s = sub.add_parser("sh", help="run a command inside a host")
    s.add_argument("node")
    s.add_argument("cmd", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_sh)
    for verb, help_ in (("kill", "power loss"), ("start", "boot a host again"),
                        ("cut", "silent partition from everyone"), ("restore", "undo cut"),
                        ("heal", "undo partition"), ("freeze", "freeze the whole host"),
                        ("thaw", "undo freeze")):
        s = sub.add_parser(verb, help=help_)
        s.add_argument("node")
        s.set_defaults(fn=_one(verb))
    s = sub.add_parser("partition", help="cut NODE from PEER only (again for more peers)")
    s.add_argument("node")
    s.add_argument("peer")
    s.add_argument("--ports", help="only these TCP ports, comma-separated (e.g. 2379,2380)")
    s.set_defaults(fn=cmd_partition)
    s = sub.add_parser("add", help="new bare hosts join the bed")
    s.add_argument("node", nargs="+")
    s.add_argument("--os", choices=sorted(C.RELEASES), default=C.DEFAULT_OS)
    s.set_defaults(fn=cmd_add)
    s = sub.add_parser("rebuild", help="wipe a host and boot it fresh with the same id")
    s.add_argument("node")
    s.set_defaults(fn=cmd_rebuild)
    s = sub.add_parser("psql", help="query as the demo application user")
    s.add_argument("--node", default="pg1")
    s.add_argument("--vip", action="store_true")
    s.add_argument("--port", type=int, default=5000)
    s.add_argument("--db")
    s.add_argument("--cluster", default="demo")
    s.add_argument("-c")
    s.set_defaults(fn=cmd_psql)
    return p


def main(argv=None):
    args = parser().parse_args(argv)
    try:
        return args.fn(args) or 0
    except BedError as exc:
        print(f"tb {args.verb}: {exc}", file=sys.stderr)
        return 1
