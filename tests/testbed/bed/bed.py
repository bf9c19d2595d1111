"""The bed as a whole: which hosts exist, and bringing everything up and down."""

import concurrent.futures
import json
import os
import shutil

from . import config as C
from . import image, master, net
from .host import CGROUP_ROOT, HIERARCHIES, Host
from .sh import BedError, run, say

REGISTRY = C.STATE / "bed.json"
TOOLS = {"systemd-nspawn": "systemd-container", "debootstrap": "debootstrap",
         "apt-cacher-ng": "apt-cacher-ng", "nft": "nftables", "tc": "iproute2",
         # a minimal Debian has none of these: stopping processes, the master's own CA and
         # the GPG-encrypted pillar need them
         "pgrep": "procps", "openssl": "openssl", "gpg": "gnupg"}


def preflight():
    if os.geteuid() != 0:
        raise BedError("the test bed needs root: run it as root (sudo make demo)")
    missing = sorted({pkg for tool, pkg in TOOLS.items() if not shutil.which(tool)})
    if missing:
        say(f"installing {' '.join(missing)}")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        # A new machine may not have fetched the package lists yet.
        run(["apt-get", "update", "-qq"], env=env, timeout=600)
        run(["apt-get", "install", "-y", "-qq", *missing], env=env, timeout=600)


def load():
    try:
        data = json.loads(REGISTRY.read_text())
    except (OSError, ValueError):
        data = {}
    return {n: Host(n, h["os"], h["address"]) for n, h in data.get("hosts", {}).items()}


def save(hosts):
    REGISTRY.parent.mkdir(parents=True, exist_ok=True)
    REGISTRY.write_text(json.dumps(
        {"hosts": {h.name: {"os": h.os, "address": h.address} for h in hosts.values()}},
        indent=1))


def host(name):
    hosts = load()
    if name not in hosts:
        raise BedError(f"no host {name} in the bed (hosts: {', '.join(sorted(hosts)) or 'none'})")
    return hosts[name]


def _parallel(fn, items):
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(items))) as pool:
        for future in [pool.submit(fn, i) for i in items]:
            future.result()


def up(nodes=3, os_name=C.DEFAULT_OS):
    """Boot pg1..pgNODES and wait for their minions; other hosts start with tb start/add."""
    preflight()
    hosts = load()
    wanted = [f"pg{i}" for i in range(1, nodes + 1)]
    for name in wanted:
        if name not in hosts:
            hosts[name] = Host(name, os_name, C.address(name))
    save(hosts)
    start([hosts[n] for n in wanted])
    return hosts


def start(targets):
    """Make sure the shared pieces run, then boot TARGETS (new ones get a fresh root)."""
    net.bridge_up()
    net.proxy_up()
    master.up()
    hosts = load()
    in_use = {h.os for h in hosts.values() if h.mounted()}
    for os_name in sorted({h.os for h in targets}):
        image.ensure_image(os_name, in_use=os_name in in_use)
    for h in targets:
        if not h.mounted():
            if (h.dir / "upper" / "etc" / "salt" / "minion_id").exists():
                h.mount(image.image_dir(h.os))
            else:
                h.create(image.image_dir(h.os), master.gen_minion_key(h.name))
    for h in hosts.values():
        if h.mounted():
            h.write_hosts(hosts.values())
    fresh = [h for h in targets if not h.running()]
    for h in fresh:
        h.start()
    _parallel(lambda h: h.wait_booted(), fresh)
    master.ping([h.name for h in targets])


def down(purge=False):
    hosts = load()
    # Hosts, master and proxy stop side by side; each takes seconds to exit cleanly.
    _parallel(lambda stop: stop(), [*(lambda h=h: h.remove(wipe=purge) for h in hosts.values()),
                                     master.down, net.proxy_down])
    net.bridge_down()
    for hierarchy in HIERARCHIES:
        path = CGROUP_ROOT / hierarchy / C.CGROUP_GROUP
        if path.is_dir():
            try:
                path.rmdir()
            except OSError as exc:
                say(f"warning: {path}: {exc}")
    if purge:
        master.purge()
        shutil.rmtree(C.STATE / "keys", ignore_errors=True)
        shutil.rmtree(C.STATE / "hosts", ignore_errors=True)
        REGISTRY.unlink(missing_ok=True)


def add(names, os_name=C.DEFAULT_OS):
    """New bare hosts NAMES join the bed (hosts that exist are just started)."""
    hosts = load()
    for name in names:
        if name not in hosts:
            taken = {h.address for h in hosts.values()}
            hosts[name] = Host(name, os_name, C.address(name, taken))
    save(hosts)
    start([hosts[n] for n in names])
    return [hosts[n] for n in names]


def rebuild(name):
    """Wipe NAME and boot it fresh with the same minion id, like a reinstalled server."""
    h = host(name)
    h.remove(wipe=True)
    master.forget_minion(name)
    start([h])
    return h


def status():
    return [{"name": h.name, "address": h.address, "os": h.os, "running": h.running()}
            for h in sorted(load().values(), key=lambda h: h.name)]
