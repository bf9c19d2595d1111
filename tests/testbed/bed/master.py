"""The bed's salt-master: on the machine, from the project's venv, listening on the bridge."""

import json
import shutil
import subprocess
import time

from . import config as C
from .sh import BedError, pid_from, pids_of, run, terminate, wait_gone, write

ROOT = C.STATE / "master"
CONF_DIR = ROOT / "etc" / "salt"
PKI = ROOT / "etc" / "salt" / "pki" / "master"
LOG = ROOT / "var" / "log" / "salt" / "master"


def _bin(tool):
    path = C.VENV / "bin" / tool
    if not path.exists():
        raise BedError(f"{path} is missing: run 'make venv' first")
    return str(path)


# Tests that change the cluster description (a parameter, a new member) write their
# pillar here; the master merges it over pillar/ (ext_pillar comes last).
OVERRIDE = C.STATE / "pillar-override.yaml"
# The master's GPG keyring for encrypted pillar: the bed's test key (public, bed only).
GPG_KEYDIR = ROOT / "etc" / "salt" / "gpgkeys"
GPG_KEY = C.REPO / "tests" / "testbed" / "gpg" / "bed-secret-key.asc"
# The repository root's directories the master serves (README, step 1), as links in a
# directory of their own: the file server walks its roots whenever a minion lists them (each
# state run), and the repository root holds the venv's ~14,000 files (1.4 s a walk here).
FORMULA_ROOT = ROOT / "formula-root"
FORMULA_DIRS = ("orch", "reactor", "_modules", "_states", "_runners", "_utils", "_beacons")
# A CA made outside Salt, as a company's PKI would hand one over; the bookworm cluster's
# pillar (tls:own_ca) has its certificates signed by it.
OWN_CA = ROOT / "etc" / "salt" / "own-ca"


def _formula_root():
    FORMULA_ROOT.mkdir(parents=True, exist_ok=True)
    for name in FORMULA_DIRS:
        link = FORMULA_ROOT / name
        if not link.is_symlink() or link.readlink() != C.REPO / name:
            link.unlink(missing_ok=True)
            link.symlink_to(C.REPO / name, target_is_directory=True)


def configure():
    _formula_root()
    if not OVERRIDE.exists():
        write(OVERRIDE, "{}\n")
    if not (OWN_CA / "ca.crt").exists():
        OWN_CA.mkdir(mode=0o700, parents=True, exist_ok=True)
        run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
             "-nodes", "-keyout", str(OWN_CA / "ca.key"), "-out", str(OWN_CA / "ca.crt"),
             "-days", "3650", "-subj", "/CN=pgsalt bed enterprise CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    GPG_KEYDIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    run(["gpg", "--homedir", str(GPG_KEYDIR), "--batch", "--quiet", "--import", str(GPG_KEY)])
    write(CONF_DIR / "master",
          f"# Written by the test bed.\nroot_dir: {ROOT}\ninterface: {C.GATEWAY}\nuser: root\n"
          "auto_accept: false\nopen_mode: false\nworker_threads: 4\ntimeout: 10\n"
          "gather_job_timeout: 15\nlog_level_logfile: info\nstate_output: changes\n"
          "hash_type: sha256\npillar_source_merging_strategy: recurse\n"
          f"gpg_keydir: {GPG_KEYDIR}\n"
          f"file_roots:\n  base:\n    - {C.REPO / 'salt'}\n    - {FORMULA_ROOT}\n"
          f"pillar_roots:\n  base:\n    - {C.REPO / 'pillar'}\n"
          f"ext_pillar:\n  - cmd_yaml: cat {OVERRIDE}\n"
          # The formula's reactor, as README tells users to include it.
          f"include: {C.REPO / 'reactor' / 'pgsalt.conf'}\n")


def _pid():
    return pid_from(ROOT / "var/run/salt-master.pid")


def up():
    configure()
    if _pid():
        return
    run([_bin("salt-master"), "-c", str(CONF_DIR), "-d"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if _pid() and (ROOT / "var/run/salt/master/master_event_pub.ipc").exists():
            return
        time.sleep(0.2)
    raise BedError(f"salt-master did not start; see {LOG}")


def _stop_gpg_agent():
    """The agent gpg starts for the master's key (the import, pillar decryption) must not
    outlive the bed; gpgconf only asks it to go."""
    run(["gpgconf", "--homedir", str(GPG_KEYDIR), "--kill", "all"], check=False)
    agents = pids_of(f"gpg-agent --homedir {GPG_KEYDIR}")
    if not wait_gone(agents, 10):
        terminate(agents, 0)


def down():
    pid = _pid()
    if pid:
        terminate([pid], 15)
    # The master's worker processes must not outlive it, and must be gone when down returns.
    terminate(pids_of(f"salt-master -c {CONF_DIR}"), 0)
    # Last: a worker that renders pillar until the end may start a new agent.
    _stop_gpg_agent()


def purge():
    shutil.rmtree(ROOT, ignore_errors=True)


def gen_minion_key(name):
    """A fresh key pair for NAME, accepted on the master before the minion ever starts."""
    keydir = C.STATE / "keys" / name
    shutil.rmtree(keydir, ignore_errors=True)
    keydir.mkdir(parents=True)
    run([_bin("salt-key"), "-c", str(CONF_DIR), f"--gen-keys-dir={keydir}", "--gen-keys=minion"])
    for state in ("minions", "minions_pre", "minions_rejected", "minions_denied"):
        (PKI / state).mkdir(parents=True, exist_ok=True)
        (PKI / state / name).unlink(missing_ok=True)
    shutil.copy(keydir / "minion.pub", PKI / "minions" / name)
    return keydir


def forget_minion(name):
    for state in ("minions", "minions_pre", "minions_rejected", "minions_denied"):
        (PKI / state / name).unlink(missing_ok=True)
    shutil.rmtree(C.STATE / "keys" / name, ignore_errors=True)


def salt(*args, check=False, timeout=None):
    return run([_bin("salt"), "-c", str(CONF_DIR), *args], check=check, timeout=timeout)


def cli(tool, args):
    """Call a Salt CLI with the bed's config, attached to this terminal; return its exit code."""
    return subprocess.call([_bin(tool), "-c", str(CONF_DIR), *args])


def ping(names, timeout=60):
    """Wait until every minion in NAMES answers test.ping."""
    deadline = time.monotonic() + timeout
    missing = set(names)
    while missing and time.monotonic() < deadline:
        out = salt("-L", ",".join(sorted(missing)), "test.ping", "--out=json", "--static",
                   "-t", "3", timeout=30).stdout
        try:
            answered = {k for k, v in json.loads(out or "{}").items() if v is True}
        except json.JSONDecodeError:
            answered = set()
        missing -= answered
        if missing:
            time.sleep(0.5)
    if missing:
        raise BedError(f"minions did not answer test.ping: {', '.join(sorted(missing))}; "
                       f"see {LOG}")
