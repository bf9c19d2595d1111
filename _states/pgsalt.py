"""States shared by the formula's components."""

import importlib.metadata
import os
import re

__virtualname__ = "pgsalt"


def __virtual__():
    return __virtualname__


def installed_unstarted(name, pkgs, service):
    """Install PKGS without letting Debian start SERVICE (a unit or a list of units) with
    the package's own config.

    Debian starts etcd and PgBouncer on install with a default config; for etcd that
    creates a one-member cluster in the data dir. The units are masked while the packages
    install and unmasked afterwards, so the first start uses the formula's config.
    Once the packages are installed this state changes nothing.

    .. code-block:: yaml

        etcd-package-installed:
          pgsalt.installed_unstarted:
            - pkgs: [etcd-server]
            - service: etcd
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    services = [service] if isinstance(service, str) else list(service)
    kept = ", ".join(services) or "no service"
    missing = [p for p in pkgs if not __salt__["pkg.version"](p)]
    if not missing:
        ret["comment"] = f"{', '.join(pkgs)} installed"
        return ret
    ret["changes"] = {"old": {p: None for p in missing}, "new": {p: "installed" for p in missing}}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"would install {', '.join(missing)} with {kept} kept stopped"
        return ret
    for unit in services:
        __salt__["service.mask"](unit)
    try:
        result = __salt__["pkg.install"](pkgs=missing, install_recommends=False)
    finally:
        for unit in services:
            __salt__["service.unmask"](unit)
    still = [p for p in pkgs if not __salt__["pkg.version"](p)]
    if still:
        ret.update(result=False, changes={}, comment=f"failed to install {', '.join(still)}")
        return ret
    ret["changes"] = {"old": {p: None for p in missing},
                      "new": {p: result.get(p, {}).get("new", "installed") for p in missing}}
    ret["comment"] = f"installed {', '.join(missing)}; {kept} not started by the packages"
    return ret


def python_installed(name, pkgs, bin_env):
    """PKGS (``project[extras]==version``) in the Python that runs this minion, whose pip is
    BIN_ENV. Checked in the installed distributions' metadata, in-process: ``pip list``,
    what ``pip.installed`` asks, takes a second or more on every run.

    .. code-block:: yaml

        pgsalt-python-modules-installed:
          pgsalt.python_installed:
            - pkgs: ["etcd3==0.12.0", "psycopg[binary]==3.3.9"]
            - bin_env: /opt/salt/bin/pip
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    missing = [req for req in pkgs if not _distribution_ok(req)]
    if not missing:
        ret["comment"] = f"{', '.join(pkgs)} installed"
        return ret
    ret["changes"] = {"old": {req: _version(_requirement(req)[0]) for req in missing},
                      "new": {req: _requirement(req)[2] for req in missing}}
    if __opts__["test"]:
        ret.update(result=None, comment=f"would install {', '.join(missing)}")
        return ret
    # Byte-compiling every module of grpcio and protobuf is a third of pip's time; Python
    # compiles what it imports on first use.
    result = __salt__["pip.install"](pkgs=missing, bin_env=bin_env, extra_args=["--no-compile"])
    still = [req for req in missing if not _distribution_ok(req)]
    if still:
        detail = (result or {}).get("stderr", "") if isinstance(result, dict) else result
        ret.update(result=False, changes={},
                   comment=f"{', '.join(still)} not installed: {str(detail).strip()}")
        return ret
    ret["comment"] = f"installed {', '.join(missing)}"
    return ret


def _requirement(req):
    """``project[a,b]==1.0`` -> (project, [a, b], 1.0)."""
    project, _, version = req.partition("==")
    project, _, extras = project.partition("[")
    return (project.strip(), [e.strip() for e in extras.rstrip("]").split(",") if e.strip()],
            version.strip())


def _version(project):
    try:
        return importlib.metadata.version(project)
    except importlib.metadata.PackageNotFoundError:
        return None


def _distribution_ok(req):
    """REQ's project at its version, and what each of its extras pulls in, installed."""
    project, extras, version = _requirement(req)
    if _version(project) != version:
        return False
    for line in importlib.metadata.requires(project) or []:
        spec, _, marker = line.partition(";")
        wanted = re.findall(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if any(extra in wanted for extra in extras):
            if _version(re.split(r"[\s\[<>=!~(]", spec.strip(), maxsplit=1)[0]) is None:
                return False
    return True


def venv_installed(name, requirement, python="python3"):
    """A Python venv at NAME with REQUIREMENT (``project[extras]==version``) installed.

    Used where a release's package of a tool is too old (Patroni on Debian 12).

    .. code-block:: yaml

        patroni-package-installed:
          pgsalt.venv_installed:
            - name: /opt/patroni
            - requirement: patroni[etcd3,psycopg3]==4.1.5
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    project, _, version = _requirement(requirement)
    project = project.lower()
    current = _venv_version(name, project)
    if current == version:
        ret["comment"] = f"{project} {version} is installed in {name}"
        return ret
    ret["changes"] = {"old": current, "new": version}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"would install {requirement} in {name}"
        return ret
    if not os.path.exists(os.path.join(name, "bin", "python")):
        made = __salt__["cmd.run_all"]([python, "-m", "venv", name], python_shell=False)
        if made["retcode"] != 0:
            ret.update(result=False, changes={}, comment=f"cannot create {name}: {made['stderr']}")
            return ret
    result = __salt__["pip.install"](pkgs=[requirement], bin_env=name)
    installed = _venv_version(name, project)
    if installed != version:
        detail = (result or {}).get("stderr", "") if isinstance(result, dict) else result
        ret.update(result=False, changes={}, comment=f"{requirement} not installed: {detail}")
        return ret
    ret["changes"]["new"] = installed
    ret["comment"] = f"installed {requirement} in {name}"
    return ret


def _venv_version(path, project):
    if not os.path.exists(os.path.join(path, "bin", "python")):
        return None
    listed = __salt__["pip.list"](prefix=project, bin_env=path) or {}
    return {k.lower(): v for k, v in listed.items()}.get(project)
