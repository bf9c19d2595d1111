"""Master-side view of the clusters in pillar: validation and the plan orchestrations follow.

Orchestrations render ``pgsalt.plan`` before anything runs, so that a pillar error stops
an operation before any host is touched, in ``test=True`` runs too.
"""

import logging

import salt.fileclient
import salt.key
import salt.pillar
import salt.utils.yaml

log = logging.getLogger(__name__)

COMPONENTS = ("pgsalt", "etcd", "postgresql", "patroni", "pgbouncer", "haproxy")


def _defaults(saltenv):
    client = salt.fileclient.FSClient(__opts__)
    try:
        out = {}
        for comp in COMPONENTS:
            path = client.cache_file(f"salt://{comp}/defaults.yaml", saltenv)
            if not path:
                raise FileNotFoundError(f"salt://{comp}/defaults.yaml is not in file_roots")
            with open(path, encoding="utf-8") as fh:
                out[comp] = salt.utils.yaml.safe_load(fh)
        return out
    finally:
        client.destroy()


def _clusters(saltenv, pillar_override=None):
    """The clusters as the master's own pillar holds them (the same pillar orchestrations see)."""
    pillar = salt.pillar.get_pillar(
        __opts__, {}, __opts__["id"], saltenv=saltenv, pillar_override=pillar_override
    ).compile_pillar()
    return pillar.get("pgsalt", {}).get("clusters") or {}


def _known_minions():
    return salt.key.get_key(__opts__).list_keys().get("minions", [])


def plan(cluster=None, saltenv="base"):
    """Validate CLUSTER's pillar and return who does what.

    Returns ``{"cluster", "errors", "members", "dcs", "db", "balancer", "dcs_cluster"}``;
    the role lists are sorted minion ids. ``errors`` is empty when the pillar is valid.

    CLI Example:

    .. code-block:: bash

        salt-run pgsalt.plan cluster=demo
    """
    model = __utils__
    clusters = _clusters(saltenv)
    defaults = _defaults(saltenv)
    errors = model["pgsalt_model.validate"](clusters, cluster, defaults, _known_minions())
    if errors:
        __context__["retcode"] = 1
        return {"cluster": cluster, "errors": errors}
    name = cluster or next(iter(clusters))
    resolved = model["pgsalt_model.resolve"](name, clusters, defaults)
    return {
        "cluster": name,
        "errors": [],
        "members": sorted(resolved["members"]),
        "dcs": resolved["dcs_members"],
        "db": resolved["db_members"],
        "balancer": resolved["balancer_members"],
        "dcs_cluster": resolved["dcs"].get("cluster"),
    }


def validate(cluster=None, saltenv="base"):
    """Check CLUSTER's pillar; returns the list of errors (empty when valid).

    Each error names the pillar key and what is wrong. The exit code is 1 on errors.

    CLI Example:

    .. code-block:: bash

        salt-run pgsalt.validate cluster=demo
    """
    return plan(cluster, saltenv)["errors"]
