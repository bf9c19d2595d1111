"""Pillar validation from the master's command line (``salt-run pgsalt.validate``)."""

import salt.fileclient
import salt.key
import salt.pillar
import salt.utils.yaml


def _defaults(saltenv):
    client = salt.fileclient.FSClient(__opts__)
    try:
        out = {}
        for name, url in __utils__["pgsalt_model.defaults_files"]().items():
            path = client.cache_file(url, saltenv)
            if not path:
                raise FileNotFoundError(f"{url} is not in file_roots")
            with open(path, encoding="utf-8") as fh:
                out[name] = salt.utils.yaml.safe_load(fh)
        return out
    finally:
        client.destroy()


def _clusters(saltenv):
    """The clusters as the master's own pillar holds them (the same pillar orchestrations see)."""
    pillar = salt.pillar.get_pillar(
        __opts__, {}, __opts__["id"], saltenv=saltenv
    ).compile_pillar()
    return pillar.get("pgsalt", {}).get("clusters") or {}


def _known_minions():
    return salt.key.get_key(__opts__).list_keys().get("minions", [])


def validate(cluster=None, saltenv="base"):
    """Check CLUSTER's pillar as the master's pillar holds it; returns the list of errors.

    Each error names the pillar key and what is wrong; the exit code is 1 on errors.
    Orchestrations run the same check (``pgsalt.plan``) before they touch any host.

    CLI Example:

    .. code-block:: bash

        salt-run pgsalt.validate cluster=demo
    """
    found = __utils__["pgsalt_model.plan"](
        _clusters(saltenv), cluster, _defaults(saltenv), _known_minions()
    )
    errors = found["errors"] or __utils__["pgsalt_pki.own_ca_errors"](found)
    if errors:
        __context__["retcode"] = 1
    return errors
