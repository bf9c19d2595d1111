"""The test bed itself: hosts answer, and every fault verb does what it says."""

import pathlib
import socket

import pytest

pytestmark = pytest.mark.e2e

PEER_PROBE = ("python3", "-c", "import socket,sys; s=socket.socket(); s.settimeout(2); "
              "print(s.connect_ex((sys.argv[1], 9)))")


def reachable(bed, src, dst_addr):
    """From host SRC, does DST_ADDR answer (refused counts as an answer) within 2 s?"""
    code = int(bed.sh(src, *PEER_PROBE, dst_addr).strip())
    return code == 111  # ECONNREFUSED: the host is there; a timeout (11) means it is not


def leftovers():
    mounts = [line for line in open("/proc/mounts") if "pgsalt-bed" in line]
    cgroups = [p for p in pathlib.Path("/sys/fs/cgroup").glob("**/pgsalt-bed")]
    bridge = pathlib.Path("/sys/class/net/pgsbr0").exists()
    # The bed's hosts, proxy, master and gpg-agent all name the bed's directory; a machine's
    # own apt-cacher-ng or containers do not count.
    procs = [cmd for cmd in map(_cmd, pathlib.Path("/proc").glob("[0-9]*/cmdline"))
             if "/pgsalt-bed/" in cmd]
    return {"mounts": mounts, "cgroups": cgroups, "bridge": bridge, "processes": procs}


def _cmd(path):
    try:
        return path.read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def test_down_up_cycles_leave_nothing_behind(bed):
    for _ in range(2):
        bed.tb("down")
        assert leftovers() == {"mounts": [], "cgroups": [], "bridge": False, "processes": []}
        bed.tb("down")  # nothing up is not an error
        bed.tb("up", "--nodes", "4")
    again = bed.tb("up", "--nodes", "4")  # already up: nothing to do
    assert "bed up" in again.stderr


def test_every_minion_answers(bed):
    status = bed.status()
    hosts = ("pg1", "pg2", "pg3", "pg4")
    assert set(hosts) <= set(status)
    assert all(status[n]["running"] for n in hosts)
    assert bed.salt("pg*", "test.ping") == dict.fromkeys(hosts, True)
    assert bed.sh("pg2", "cat", "/etc/os-release").count("trixie") >= 1
    grains = bed.salt("pg1", "grains.item", "init", "virtual", "osfinger")["pg1"]
    assert grains == {"init": "systemd", "virtual": "systemd-nspawn", "osfinger": "Debian-13"}


def test_kill_then_start(bed):
    bed.tb("kill", "pg3")
    assert bed.status()["pg3"]["running"] is False
    assert not reachable(bed, "pg1", "10.77.0.13")
    bed.tb("start", "pg3")
    assert bed.status()["pg3"]["running"] is True
    assert bed.salt("pg3", "test.ping") == {"pg3": True}
    # The host boots clean: no unit failed, and new services run.
    assert bed.sh("pg3", "systemctl", "--failed", "--no-legend") == ""
    assert "status=0/SUCCESS" in bed.tb("sh", "pg3", "systemd-run", "--wait", "true").stderr


def test_cut_then_restore_seen_from_another_host(bed):
    assert reachable(bed, "pg1", "10.77.0.12")
    bed.tb("cut", "pg2")
    try:
        assert not reachable(bed, "pg1", "10.77.0.12")
        # Silent: inside pg2 the link is still up with its address.
        assert "10.77.0.12/24" in bed.sh("pg2", "ip", "-4", "-o", "addr", "show", "host0")
    finally:
        bed.tb("restore", "pg2")
    bed.wait("pg2 reachable again", lambda: reachable(bed, "pg1", "10.77.0.12"), timeout=20)


def test_partition_between_two_hosts_only(bed):
    bed.tb("partition", "pg1", "pg2")
    try:
        assert not reachable(bed, "pg1", "10.77.0.12")
        assert not reachable(bed, "pg2", "10.77.0.11")
        assert reachable(bed, "pg1", "10.77.0.13")
        assert reachable(bed, "pg3", "10.77.0.12")
    finally:
        bed.tb("heal", "pg1")
    assert reachable(bed, "pg1", "10.77.0.12")


def test_freeze_then_thaw(bed):
    bed.tb("freeze", "pg2")
    try:
        assert bed.salt("pg2", "test.ping", "-t", "3") != {"pg2": True}
    finally:
        bed.tb("thaw", "pg2")
    bed.wait("pg2 answers after thaw", lambda: bed.salt("pg2", "test.ping") == {"pg2": True},
             timeout=30)


def test_rebuild_gives_a_fresh_host_with_the_same_id(bed):
    bed.sh("pg3", "touch", "/root/marker")
    old_id = bed.sh("pg3", "cat", "/etc/machine-id")
    bed.tb("rebuild", "pg3")
    assert bed.salt("pg3", "test.ping") == {"pg3": True}
    assert bed.sh("pg3", "test", "-e", "/root/marker", check=False) == ""
    assert "marker" not in bed.sh("pg3", "ls", "/root")
    assert bed.sh("pg3", "cat", "/etc/machine-id") != old_id
    assert bed.sh("pg3", "cat", "/etc/salt/minion_id").strip() == "pg3"


def test_sh_runs_inside_the_host(bed):
    assert bed.sh("pg1", "hostname").strip() == "pg1"
    assert socket.gethostname() != "pg1"
