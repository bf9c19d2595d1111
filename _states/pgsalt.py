"""States shared by the formula's components."""

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
