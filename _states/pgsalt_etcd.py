"""
etcd v3 cluster membership and authentication states for pgsalt.

.. code-block:: yaml

    etcd-member-pg4:
      pgsalt_etcd.member_present:
        - name: pg4
        - peer_urls: [http://10.77.0.14:2380]
        - endpoints: [http://10.77.0.11:2379, http://10.77.0.12:2379]

Run ``member_present`` on the joining host before its etcd first starts, and
start it with ``pgsalt_etcd.initial_state`` deciding ETCD_INITIAL_CLUSTER_STATE.
"""

import os
import secrets

from salt.exceptions import CommandExecutionError

__virtualname__ = "pgsalt_etcd"


def __virtual__():
    # Always loaded, so that a test=True run on a bare host predicts instead of failing.
    return __virtualname__


def _ret(name):
    """
    A fresh state return.

    CLI Example (internal):

    .. code-block:: python

        _ret("pg4")  # {'name': 'pg4', 'result': True, 'changes': {}, 'comment': ''}
    """
    return {"name": name, "result": True, "changes": {}, "comment": ""}


def _conn(endpoints, ca_cert, cert_cert, cert_key, timeout):
    """
    Connection keyword arguments for the execution module, without the unset ones.

    CLI Example (internal):

    .. code-block:: python

        _conn(["http://10.77.0.11:2379"], None, None, None, None)
    """
    given = {
        "endpoints": endpoints,
        "ca_cert": ca_cert,
        "cert_cert": cert_cert,
        "cert_key": cert_key,
        "timeout": timeout,
    }
    return {key: value for key, value in given.items() if value is not None}


def _urls(urls):
    """
    A list of URLs from a list or a comma-separated string.

    CLI Example (internal):

    .. code-block:: python

        _urls("http://a:2380,http://b:2380")  # ['http://a:2380', 'http://b:2380']
    """
    if isinstance(urls, str):
        urls = urls.split(",")
    return [str(url).strip() for url in urls or [] if str(url).strip()]


def _url_set(urls):
    """
    Normalised URL set, so order, case and trailing slashes don't count.

    CLI Example (internal):

    .. code-block:: python

        _url_set(["http://A:2380/"])  # {'http://a:2380'}
    """
    return {url.rstrip("/").lower() for url in _urls(urls)}


def _label(entry):
    """
    A member's name, or its hex id while it has none.

    CLI Example (internal):

    .. code-block:: python

        _label({"id": 255, "name": ""})  # 'ff'
    """
    return entry["name"] or format(entry["id"], "x")


def _plan(current, name, peer_urls, replace):
    """
    Decide which entries to remove and whether to add one for ``name``.

    Returns ``(remove, add)``; raises CommandExecutionError when another,
    named member holds some of the peer URLs and ``replace`` is not set.

    CLI Example (internal):

    .. code-block:: python

        _plan(members, "pg4", ["http://10.77.0.14:2380"], False)  # ([], True)
    """
    wanted = _url_set(peer_urls)
    remove = []
    keep = None
    for entry in current:
        urls = _url_set(entry["peer_urls"])
        if entry["name"] == name:
            # Never started (no client URLs): a peer of a bootstrap still on its way, which
            # even replace keeps; only a started entry can stand for lost data.
            if urls == wanted and not (replace and entry.get("client_urls")):
                keep = entry
            else:
                remove.append(entry)
        elif not entry["name"] and urls & wanted:
            # Added earlier but never started: that is this host's pending
            # entry when the URLs match, so even replace keeps it (replacing
            # it on every run would never let the member join).
            if urls == wanted:
                keep = entry
            else:
                remove.append(entry)
        elif urls & wanted:
            if not replace:
                raise CommandExecutionError(
                    f"peer URLs {sorted(urls & wanted)} belong to etcd member "
                    f"{_label(entry)!r}; set replace=True to replace it"
                )
            remove.append(entry)
    return remove, keep is None


def _has_data(data_dir):
    """
    True when ``data_dir`` holds a bootstrapped member (its ``member`` directory).

    CLI Example (internal):

    .. code-block:: python

        _has_data("/var/lib/etcd/default")
    """
    return bool(data_dir) and os.path.isdir(os.path.join(data_dir, "member"))


def member_present(
    name,
    peer_urls,
    endpoints=None,
    replace=False,
    data_dir=None,
    ca_cert=None,
    cert_cert=None,
    cert_key=None,
    timeout=None,
):
    """
    Make sure the cluster has a member ``name`` at ``peer_urls``.

    name
        The member's etcd name (ETCD_NAME).
    peer_urls
        Its peer URLs, a list or a comma-separated string.
    endpoints
        Client URLs of the running cluster, tried in order.
    replace
        Remove and re-add a started entry of the same name even when its
        peer URLs match: for a host rebuilt without its etcd data. Also lets
        the state remove another named member that holds these peer URLs.
    data_dir
        With ``replace``, the local data directory: replace is skipped while
        ``data_dir/member`` exists, since the host then still has its data.
    ca_cert, cert_cert, cert_key, timeout
        TLS files and timeout for the etcd client.

    When no endpoint answers, nothing is done: the member is one of those
    bootstrapping the cluster.

    CLI Example:

    .. code-block:: bash

        salt pg4 state.single pgsalt_etcd.member_present pg4 \\
            peer_urls=http://10.77.0.14:2380 endpoints=http://10.77.0.11:2379
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_etcd.members", "python-etcd3"
    )
    if missing:
        return missing
    ret = _ret(name)
    urls = _urls(peer_urls)
    if not urls:
        ret.update(result=False, comment="peer_urls is empty")
        return ret
    conn = _conn(endpoints, ca_cert, cert_cert, cert_key, timeout)
    if replace and _has_data(data_dir):
        replace = False
    try:
        if not __salt__["pgsalt_etcd.reachable"](**conn):
            ret["comment"] = "no etcd cluster reachable yet; the member bootstraps it"
            return ret
        current = __salt__["pgsalt_etcd.members"](**conn)
        remove, add = _plan(current, name, urls, replace)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret

    if not remove and not add:
        ret["comment"] = f"etcd member {name} is present"
        return ret
    if len(remove) >= len(current):
        ret.update(result=False, comment="refusing to remove every member of the etcd cluster")
        return ret

    old = [dict(entry) for entry in remove] or None
    new = {"name": name, "peer_urls": urls}
    removed = ", ".join(_label(entry) for entry in remove)
    if __opts__["test"]:
        ret["result"] = None
        ret["changes"] = {"old": old, "new": new}
        ret["comment"] = f"etcd member {name} would be added" + (
            f" after removing {removed}" if remove else ""
        )
        return ret

    done = []
    try:
        for entry in remove:
            __salt__["pgsalt_etcd.remove"](entry["id"], **conn)
            done.append(dict(entry))
        added = __salt__["pgsalt_etcd.add"](urls, **conn)
        check = __salt__["pgsalt_etcd.members"](**conn)
    except CommandExecutionError as exc:
        # Removals that did happen are real changes and must show up.
        if done:
            ret["changes"] = {"old": done, "new": None}
        ret.update(result=False, comment=str(exc))
        return ret

    new["id"] = added["id"]
    ret["changes"] = {"old": old, "new": new}
    if not any(_url_set(entry["peer_urls"]) == _url_set(urls) for entry in check):
        ret.update(result=False, comment=f"etcd member {name} was added but is not listed")
        return ret
    ret["comment"] = f"etcd member {name} added" + (f" after removing {removed}" if remove else "")
    return ret


def member_absent(name, endpoints=None, ca_cert=None, cert_cert=None, cert_key=None, timeout=None):
    """
    Make sure no member named ``name`` is in the cluster.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.single pgsalt_etcd.member_absent pg4 endpoints=http://10.77.0.11:2379
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_etcd.members", "python-etcd3"
    )
    if missing:
        return missing
    ret = _ret(name)
    conn = _conn(endpoints, ca_cert, cert_cert, cert_key, timeout)
    try:
        current = __salt__["pgsalt_etcd.members"](**conn)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=f"cannot check etcd membership: {exc}")
        return ret

    target = next((entry for entry in current if entry["name"] == name), None)
    if target is None:
        ret["comment"] = f"etcd member {name} is absent"
        return ret
    if len(current) == 1:
        ret.update(result=False, comment=f"refusing to remove {name}, the cluster's last member")
        return ret

    changes = {"old": dict(target), "new": None}
    if __opts__["test"]:
        ret.update(result=None, changes=changes, comment=f"etcd member {name} would be removed")
        return ret

    try:
        __salt__["pgsalt_etcd.remove"](target["id"], **conn)
        check = __salt__["pgsalt_etcd.members"](**conn)
    except CommandExecutionError as exc:
        ret.update(result=False, comment=str(exc))
        return ret

    ret["changes"] = changes
    if any(entry["id"] == target["id"] for entry in check):
        ret.update(result=False, comment=f"etcd member {name} was removed but is still listed")
        return ret
    ret["comment"] = f"etcd member {name} removed"
    return ret


def initial_state_file(name, member, peer_urls=None, endpoints=None, data_dir=None, **tls):
    """
    Keep ETCD_INITIAL_CLUSTER_STATE for MEMBER in the file NAME (an environment file).

    The answer is decided when the state runs (``pgsalt_etcd.initial_state``): 'new'
    while the cluster is being bootstrapped, 'existing' when this member joins a running
    cluster. A bootstrapped member ignores it, so a running etcd is never restarted for it.

    .. code-block:: yaml

        etcd-config-initial-state:
          pgsalt_etcd.initial_state_file:
            - name: /etc/default/etcd-initial-state
            - member: pg1
            - endpoints: [http://10.77.0.11:2379]
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_etcd.members", "python-etcd3"
    )
    if missing:
        return missing
    ret = _ret(name)
    current = None
    if os.path.exists(name):
        with open(name, encoding="utf-8") as fh:
            current = fh.read()
    if current is not None and _has_data(data_dir or "/var/lib/etcd/default"):
        # A bootstrapped member ignores the setting: keep what it started with.
        ret["comment"] = f"etcd has its data; {name} stays at {_state_of(current)}"
        return ret
    kwargs = {k: v for k, v in tls.items() if k in ("ca_cert", "cert_cert", "cert_key", "timeout")}
    if data_dir:
        kwargs["data_dir"] = data_dir
    state = __salt__["pgsalt_etcd.initial_state"](member, peer_urls, endpoints, **kwargs)
    wanted = f'# Managed by Salt (pgsalt).\nETCD_INITIAL_CLUSTER_STATE="{state}"\n'
    if current == wanted:
        ret["comment"] = f"{name} says {state}"
        return ret
    ret["changes"] = {"old": _state_of(current), "new": state}
    if __opts__["test"]:
        ret["result"] = None
        ret["comment"] = f"{name} would say {state}"
        return ret
    with open(name, "w", encoding="utf-8") as fh:
        fh.write(wanted)
    ret["comment"] = f"{name} says {state}"
    return ret


def _state_of(text):
    """The value an initial-state file holds, or None."""
    for line in (text or "").splitlines():
        if line.startswith("ETCD_INITIAL_CLUSTER_STATE="):
            return line.split("=", 1)[1].strip('"')
    return None


def _auth_plan(status, logins, admins, passwords_ok):
    """
    The ``pgsalt_etcd.auth_apply`` actions that take STATUS (``auth_status``) to the
    wanted users and roles, and the summary of each side for ``changes`` (no passwords).

    CLI Example (internal):

    .. code-block:: python

        _auth_plan(status, [{"user": "patroni-demo", ...}], ["pg1", "pg2", "pg3"], {})
    """
    users, roles = status["users"], status["roles"]
    actions = []
    for login in logins:
        user, prefix = login["user"], login["prefix"]
        if roles.get(user) != [__salt__["pgsalt_etcd.prefix_permission"](prefix)]:
            actions.append({"role": user, "prefix": prefix})
        if users.get(user) != [user] or not passwords_ok.get(user, False):
            actions.append({"user": user, "password": login["password"], "roles": [user]})
    for admin in ["root", *admins]:
        if "root" not in users.get(admin, []):
            # Never used to log in: the admins authenticate with their certificates' CN.
            actions.append({"user": admin, "password": secrets.token_urlsafe(24),
                            "roles": ["root"]})
    wanted = {"root", *admins}
    actions += [{"delete_user": user} for user in sorted(users)
                if "root" in users[user] and user not in wanted]
    if not status["enabled"]:
        actions.append({"enable": True})
    return actions


def _working_logins(status, logins, conn):
    """
    {user: True/False}: whether each login's password works; only asked of users that
    exist while auth is on (etcd cannot check a password otherwise).

    CLI Example (internal):

    .. code-block:: python

        _working_logins(status, [{"user": "patroni-demo", "password": ...}], conn)
    """
    return {login["user"]: __salt__["pgsalt_etcd.login_works"](
        login["user"], login["password"], **conn)
        for login in logins if status["enabled"] and login["user"] in status["users"]}


def _describe(action):
    if "role" in action:
        return f"role {action['role']}: readwrite on {action['prefix']} only"
    if "user" in action:
        return f"user {action['user']}: login with roles {', '.join(action['roles'])}"
    if "delete_user" in action:
        return f"user {action['delete_user']}: deleted (no longer a dcs host)"
    return "auth enabled"


def auth_present(name, logins, admins, endpoints=None, ca_cert=None, cert_cert=None,
                 cert_key=None, timeout=None):
    """
    etcd's own authentication: each of LOGINS (``{user, password, prefix}``, one per
    cluster on this etcd) logs in with a role that may read and write only its prefix;
    each of ADMINS (the dcs hosts' minion ids, their certificates' CN) and ``root`` has
    the root role; root users of hosts no longer listed are deleted; auth is on.

    Auth is switched on only while no Patroni runs under a login's prefix (no member or
    leader key): it would lose its leader key (README, Security, for a running cluster).
    Passwords never appear in the return.

    CLI Example:

    .. code-block:: bash

        salt pg1 state.apply etcd.auth test=True
    """
    missing = __utils__["pgsalt_states.unavailable"](
        name, __salt__, __opts__, "pgsalt_etcd.auth_status", "python-etcd3"
    )
    if missing:
        return missing
    ret = _ret(name)
    conn = _conn(endpoints, ca_cert, cert_cert, cert_key, timeout)
    try:
        status = __salt__["pgsalt_etcd.auth_status"](**conn)
        actions = _auth_plan(status, logins, admins, _working_logins(status, logins, conn))
        if actions and actions[-1].get("enable"):
            # A running Patroni keeps its member key (and the leader its leader key) alive.
            busy = [login["prefix"] for login in logins if any(
                __salt__["pgsalt_etcd.key_count"](login["prefix"] + key, **conn)
                for key in ("members/", "leader"))]
            if busy:
                ret.update(result=False, comment=(
                    f"a Patroni runs under {', '.join(busy)} while etcd's auth is off: "
                    "switching it on would cut it off (it has no login). Follow README, "
                    "Security (etcd's users, in order), or set etcd:auth false"))
                return ret
    except CommandExecutionError as exc:
        if __opts__["test"]:
            ret.update(result=None, comment=f"etcd auth would be set up once etcd runs ({exc})")
            return ret
        ret.update(result=False, comment=f"cannot check etcd's auth: {exc}")
        return ret
    if not actions:
        ret["comment"] = "etcd auth is on with the wanted users and roles"
        return ret
    changes = {"old": {"enabled": status["enabled"], "users": sorted(status["users"]),
                       "roles": sorted(status["roles"])},
               "new": [_describe(action) for action in actions]}
    if __opts__["test"]:
        ret.update(result=None, changes=changes, comment="etcd auth would be updated")
        return ret
    try:
        __salt__["pgsalt_etcd.auth_apply"](actions, **conn)
        check = __salt__["pgsalt_etcd.auth_status"](**conn)
        left = _auth_plan(check, logins, admins, _working_logins(check, logins, conn))
    except CommandExecutionError as exc:
        ret.update(result=False, changes=changes, comment=f"etcd auth: {exc}")
        return ret
    ret["changes"] = changes
    if left:
        ret.update(result=False, comment="etcd auth still differs: "
                   + "; ".join(_describe(action) for action in left))
        return ret
    ret["comment"] = "etcd auth updated"
    return ret
