"""Minor upgrades of the formula's packages on one host: what apt would update, the update
itself, and whether PostgreSQL still runs the binary it started from.

``orch.minor_upgrade`` calls these host by host from the master (``pgsalt_ops``); they also
work alone from the CLI.
"""

import salt.utils.path
from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_upgrade"


def __virtual__():
    if __grains__.get("os_family") != "Debian" or not salt.utils.path.which("apt-get"):
        return False, "pgsalt_upgrade needs a Debian-family host with apt"
    return __virtualname__


def _names(pkgs):
    return [p.strip() for p in pkgs.split(",")] if isinstance(pkgs, str) else list(pkgs)


def pending(pkgs, refresh=True):
    """The packages of PKGS that are installed and have a newer apt candidate:
    ``{pkg: {'installed': version, 'candidate': version}}``. Packages that are not installed
    are left out: an upgrade installs nothing new. REFRESH runs ``apt-get update`` first (a
    failed update is an error, not "nothing pending").

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_upgrade.pending '[haproxy, pgbouncer]'
        salt pg1 pgsalt_upgrade.pending haproxy,pgbouncer refresh=False
    """
    if refresh:
        __salt__["pkg.refresh_db"](failhard=True)
    out = {}
    for name in _names(pkgs):
        installed = __salt__["pkg.version"](name)
        if not installed:
            continue
        # '' when the installed version is the candidate or newer (a downgrade is no update).
        candidate = __salt__["pkg.latest_version"](name, refresh=False)
        if candidate:
            out[name] = {"installed": installed, "candidate": candidate}
    return out


def apply(pkgs):
    """Install the candidate version of every package of PKGS that :func:`pending` lists;
    returns apt's changes ``{pkg: {'old': version, 'new': version}}`` (dependencies that
    moved along included), ``{}`` when nothing was pending. Each version is pinned, so a
    candidate that changed since :func:`pending` is not installed unseen.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_upgrade.apply '[haproxy, pgbouncer]'
    """
    todo = pending(pkgs, refresh=False)
    if not todo:
        return {}
    changes = __salt__["pkg.install"](
        pkgs=[{name: v["candidate"]} for name, v in todo.items()], install_recommends=False)
    wrong = {name: __salt__["pkg.version"](name) for name in todo}
    wrong = {name: have for name, have in wrong.items() if have != todo[name]["candidate"]}
    if wrong:
        raise CommandExecutionError(
            "not updated: " + ", ".join(f"{name} is {have or 'missing'}, expected "
                                        f"{todo[name]['candidate']}"
                                        for name, have in sorted(wrong.items())))
    return changes


def _version_text(text):
    # "postgres (PostgreSQL) 17.6 (Debian 17.6-1)" -> "17.6 (Debian 17.6-1)", the form
    # "show server_version" gives: Debian's own revision is part of both.
    return text.strip().split("(PostgreSQL)", 1)[-1].strip()


def postgres_restart_needed(bin_dir, port=5432):
    """Whether the running PostgreSQL server (on PORT, over the local socket) is older than
    the installed binary in BIN_DIR: apt replaces the files, the server keeps running the
    old ones until it restarts. Returns ``{'needed': bool, 'binary': ..., 'running': ...}``;
    a server that does not answer is an error.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_upgrade.postgres_restart_needed /usr/lib/postgresql/17/bin
    """
    binary = __salt__["cmd.run_all"]([f"{bin_dir}/postgres", "-V"], python_shell=False)
    if binary["retcode"] != 0:
        raise CommandExecutionError(f"{bin_dir}/postgres -V: {binary['stderr'].strip()}")
    running = __salt__["cmd.run_all"](
        ["psql", "-XAtq", "-p", str(port), "-c", "show server_version"], runas="postgres",
        python_shell=False, ignore_retcode=True)
    if running["retcode"] != 0:
        raise CommandExecutionError(f"PostgreSQL on port {port} does not answer: "
                                    f"{(running['stderr'] or running['stdout']).strip()}")
    binary, running = _version_text(binary["stdout"]), _version_text(running["stdout"])
    return {"needed": binary != running, "binary": binary, "running": running}


def formula_packages(saltenv="base"):
    """The packages the formula installs on this host for its roles in its cluster, and
    where its PostgreSQL lives: ``{'cluster', 'roles', 'packages', 'bin_dir', 'port'}``
    (an empty list outside any cluster). A Patroni from a venv is pinned by the formula
    and not listed.

    CLI Example:

    .. code-block:: bash

        salt pg1 pgsalt_upgrade.formula_packages
    """
    c = __salt__["pgsalt.cluster"](__salt__["pgsalt.defaults"](saltenv))
    if not c:
        return {"cluster": None, "roles": [], "packages": [], "bin_dir": None, "port": None}
    roles, pg = c["my"]["roles"], c["postgresql"]
    backups = c["pgbackrest"].get("packages", []) if c["pgbackrest"].get("enabled") else []
    pkgs = []
    if "db" in roles:
        pkgs += pg["packages"] + backups
        if c["patroni"].get("source") == "package":
            pkgs += c["patroni"]["packages"]
    if "balancer" in roles:
        pkgs += ["haproxy", "pgbouncer"] + (["keepalived"] if c["vip"].get("address") else [])
    if "dcs" in roles:
        pkgs.append(c["etcd"]["package"])
    if "backup" in roles:
        # The restore drill installs the cluster's PostgreSQL here too; pending() skips
        # what is not installed.
        pkgs += backups + pg["packages"]
    if c.get("monitor_members"):
        pkgs += list(__salt__["pgsalt_monitoring.exporter_args"](c))
        if "monitor" in roles:
            pkgs += ["prometheus", "prometheus-alertmanager"]
    return {"cluster": c["name"], "roles": roles, "packages": list(dict.fromkeys(pkgs)),
            "bin_dir": pg.get("bin_dir"), "port": pg.get("port")}
