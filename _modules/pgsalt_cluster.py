"""A running cluster as the Salt master sees it, for orchestrations while they render:
which db hosts already run as Patroni members, and whether a request fits. It reaches the
hosts through ``saltutil.cmd``, so it only works on the master (state.orchestrate)."""

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_cluster"


def __virtual__():
    if "saltutil.cmd" not in __salt__:
        return False, "pgsalt_cluster runs on the Salt master"
    return __virtualname__


def roster(db):
    """The leader, the members Patroni knows (``running``) and the db hosts of pillar that
    are no members yet (``new``); ``error`` says why no host answered.

    CLI Example:

    .. code-block:: bash

        salt-run salt.cmd pgsalt_cluster.roster '[pg1, pg2, pg3]'
    """
    remote = __utils__["pgsalt_ops.remote"](__salt__["saltutil.cmd"])
    try:
        topo = __utils__["pgsalt_ops.topology"](remote, db)
    except CommandExecutionError as exc:
        return {"leader": None, "running": [], "new": list(db), "error": str(exc)}
    running = sorted(topo["members"])
    return {"leader": topo["leader"], "running": running,
            "new": [m for m in db if m not in running], "error": None}


def scale_out_errors(plan, roster):
    """Why orch.scale_out must not run on PLAN's cluster now: a list, empty when it may.

    CLI Example:

    .. code-block:: bash

        salt-run salt.cmd pgsalt_cluster.scale_out_errors "$plan" "$roster"
    """
    if roster["leader"] is None:
        return [f"pgsalt:clusters:{plan['cluster']}: no running leader "
                f"({roster['error'] or 'Patroni names none'}); orch.deploy builds a cluster, "
                "orch.scale_out adds hosts to a running one"]
    return []


def removal_errors(plan, roster, node):
    """Why orch.remove_node must not remove NODE: a list, empty when it may.

    CLI Example:

    .. code-block:: bash

        salt-run salt.cmd pgsalt_cluster.removal_errors "$plan" "$roster" pg4
    """
    path = f"pgsalt:clusters:{plan['cluster']}:members"
    if not node:
        return ["node: missing; expected the minion id of the host to remove"]
    if node == roster["leader"]:
        return [f"node: {node} is the leader; run orch.switchover first"]
    if node in plan["members"]:
        return [f"{path}:{node}: still listed; remove it from the pillar first, so that "
                "no later run adds it back"]
    if roster["leader"] is None:
        return [f"pgsalt:clusters:{plan['cluster']}: no running leader "
                f"({roster['error'] or 'Patroni names none'})"]
    return []
