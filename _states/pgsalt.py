"""States shared by the formula's components."""

import os

__virtualname__ = "pgsalt"


def __virtual__():
    return __virtualname__


def installed_unstarted(name, pkgs, service):
    """Install PKGS without letting Debian start SERVICE with the package's own config.

    Debian starts etcd and PgBouncer on install with a default config; for etcd that
    creates a one-member cluster in the data dir. The unit is masked while the packages
    install and unmasked afterwards, so the first start uses the formula's config.
    Once the packages are installed this state changes nothing.

    .. code-block:: yaml

        etcd-package-installed:
          pgsalt.installed_unstarted:
            - pkgs: [etcd-server]
            - service: etcd
    """
    ret = {"name": name, "result": True, "changes": {}, "comment": ""}
    missing = [p for p in pkgs if not __salt__["pkg.version"](p)]
    if not missing:
        ret["comment"] = f"{', '.join(pkgs)} installed"
        return ret
    ret["changes"] = {"old": {p: None for p in missing}, "new": {p: "installed" for p in missing}}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"would install {', '.join(missing)} with {service} kept stopped"
        return ret
    __salt__["service.mask"](service)
    try:
        result = __salt__["pkg.install"](pkgs=missing, install_recommends=False)
    finally:
        __salt__["service.unmask"](service)
    still = [p for p in pkgs if not __salt__["pkg.version"](p)]
    if still:
        ret.update(result=False, changes={}, comment=f"failed to install {', '.join(still)}")
        return ret
    ret["changes"] = {"old": {p: None for p in missing},
                      "new": {p: result.get(p, {}).get("new", "installed") for p in missing}}
    ret["comment"] = f"installed {', '.join(missing)}; {service} not started by the package"
    return ret


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
    project, _, version = requirement.partition("==")
    project = project.split("[")[0].lower()
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
