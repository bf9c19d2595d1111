"""
Talk to the local Patroni through its REST API (Patroni 3.0 - 4.1).

Only the Python standard library is used (``urllib``, ``ssl``, ``json``) plus
PyYAML, which Salt itself depends on, to read the Patroni configuration file.

How the REST API is reached is read from the local Patroni configuration file
(default ``/etc/patroni/config.yml``, overridable per call with ``config_file``
or for the minion with the ``pgsalt_patroni.config_file`` option):

- ``restapi.connect_address`` (``host:port``) gives the base URL;
- ``restapi.certfile`` set means the API speaks HTTPS; the server certificate
  is verified against ``ctl.cacert`` or ``restapi.cafile`` (system CAs when
  neither is set), unless ``ctl.insecure`` is true;
- a client certificate is presented from ``ctl.certfile``/``ctl.keyfile``, or
  from ``restapi.certfile``/``restapi.keyfile`` when ``restapi.verify_client``
  is set (as patronictl does);
- ``ctl.authentication`` or ``restapi.authentication`` (``username`` and
  ``password``) is sent as HTTP basic auth with the unsafe (non-GET) calls.

Every function accepts ``url`` (a base URL such as ``http://10.0.0.1:8008``
that replaces ``connect_address``), ``config_file`` and ``timeout`` (seconds
per HTTP request). Passwords never appear in return data, errors or logs.
"""

import base64
import http.client
import json
import logging
import os
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

import yaml
from salt.exceptions import CommandExecutionError

log = logging.getLogger(__name__)

__virtualname__ = "pgsalt_patroni"

DEFAULT_CONFIG_FILE = "/etc/patroni/config.yml"

# Role names as Patroni reports them on /patroni: Patroni 3.x says "master",
# 4.x says "primary" for the leader of a normal cluster.
_PRIMARY_ROLES = ("primary", "master", "leader")
_STANDBY_LEADER_ROLES = ("standby_leader", "standby-leader")
_REPLICA_ROLES = ("replica", "standby", "sync_standby", "quorum_standby")
# Roles on /cluster member entries that hold the leader lock.
_CLUSTER_LEADER_ROLES = ("leader", "standby_leader", "primary", "master")
_SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
_MAX_MESSAGE = 500


def __virtual__():
    return __virtualname__


class _PatroniUnreachable(CommandExecutionError):
    """The REST API could not be reached (refused, timed out, TLS failure...)."""


class _PatroniHTTPError(CommandExecutionError):
    """The REST API answered with an unexpected HTTP status."""

    def __init__(self, message, status):
        super().__init__(message, info={"status": status})
        self.status = status


# --------------------------------------------------------------------------
# configuration and connection
# --------------------------------------------------------------------------


def _opts():
    try:
        return __opts__
    except NameError:
        return {}


def _set_retcode(code=1):
    try:
        __context__["retcode"] = code
    except (NameError, TypeError):
        pass


def _default_config_file():
    return _opts().get("pgsalt_patroni.config_file") or DEFAULT_CONFIG_FILE


def _merge(base, extra):
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
    return base


def _load_yaml(path):
    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except OSError as exc:
        raise CommandExecutionError(
            f"Cannot read Patroni config file {path}: {exc.strerror or exc}"
        ) from None
    except yaml.YAMLError as exc:
        # The YAML error text quotes the offending line, which may hold a
        # password: report the position only.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise CommandExecutionError(
            f"Patroni config file {path} is not valid YAML{where}"
        ) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CommandExecutionError(f"Patroni config file {path} does not hold a mapping")
    return data


def _read_config(path):
    """Read the Patroni config file, or a directory of *.yml files like Patroni does."""
    if os.path.isdir(path):
        config = {}
        for fname in sorted(os.listdir(path)):
            full = os.path.join(path, fname)
            if fname.endswith((".yml", ".yaml")) and os.path.isfile(full):
                _merge(config, _load_yaml(full))
        return config
    return _load_yaml(path)


def _section(config, name):
    value = config.get(name)
    return value if isinstance(value, dict) else {}


def _host_port_url(scheme, address):
    address = str(address).strip()
    host, sep, port = address.rpartition(":")
    if not sep or host.endswith(":"):
        # no port, or a bare IPv6 address
        host, port = address, ""
    if host in ("", "0.0.0.0", "*"):
        host = "127.0.0.1"
    elif host in ("::", "[::]"):
        host = "[::1]"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}" if port else f"{scheme}://{host}"


def _split_userinfo(url):
    """Return (url without user:password@, username, password)."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url.rstrip("/"), None, None
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    clean = urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return (
        clean.rstrip("/"),
        urllib.parse.unquote(parts.username or ""),
        urllib.parse.unquote(parts.password or ""),
    )


def _connection(url=None, config_file=None):
    """
    Work out how to reach Patroni: base URL, basic auth and TLS settings.

    The returned dict holds the password; it must never be returned or logged.
    """
    path = config_file or _default_config_file()
    config = {}
    if os.path.exists(path):
        config = _read_config(path)
    elif config_file or not url:
        raise CommandExecutionError(
            f"Patroni config file {path} does not exist; pass config_file= or url= "
            "to say how to reach the Patroni REST API"
        )

    restapi = _section(config, "restapi")
    ctl = _section(config, "ctl")

    username = password = None
    for section in (ctl, restapi):
        auth = section.get("authentication")
        if isinstance(auth, dict) and auth.get("username") is not None:
            username = str(auth.get("username"))
            password = "" if auth.get("password") is None else str(auth.get("password"))
            break

    if url:
        base_url, url_user, url_password = _split_userinfo(str(url))
        if url_user is not None:
            username, password = url_user, url_password
        if "://" not in base_url:
            scheme = "https" if restapi.get("certfile") else "http"
            base_url = _host_port_url(scheme, base_url)
    else:
        address = restapi.get("connect_address") or restapi.get("listen")
        if not address:
            raise CommandExecutionError(
                f"Patroni config file {path} has no restapi.connect_address"
            )
        scheme = "https" if restapi.get("certfile") else "http"
        base_url = _host_port_url(scheme, address)

    insecure = ctl.get("insecure")
    if isinstance(insecure, str):
        insecure = insecure.strip().lower() in ("1", "true", "yes", "on")

    certfile = keyfile = keyfile_password = None
    if ctl.get("certfile"):
        certfile = ctl.get("certfile")
        keyfile = ctl.get("keyfile")
        keyfile_password = ctl.get("keyfile_password")
    elif restapi.get("certfile") and restapi.get("verify_client"):
        certfile = restapi.get("certfile")
        keyfile = restapi.get("keyfile")
        keyfile_password = restapi.get("keyfile_password")

    return {
        "base_url": base_url,
        "username": username,
        "password": password,
        "cafile": ctl.get("cacert") or restapi.get("cafile"),
        "certfile": certfile,
        "keyfile": keyfile,
        "keyfile_password": keyfile_password,
        "insecure": bool(insecure),
    }


def _ssl_context(conn):
    try:
        ctx = ssl.create_default_context(cafile=conn["cafile"] or None)
        if conn["insecure"]:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        if conn["certfile"]:
            ctx.load_cert_chain(
                conn["certfile"],
                conn["keyfile"] or None,
                password=conn["keyfile_password"] or None,
            )
    except (OSError, ssl.SSLError) as exc:
        files = ", ".join(
            f"{name}={conn[name]}" for name in ("cafile", "certfile", "keyfile") if conn[name]
        )
        raise CommandExecutionError(
            f"Cannot set up TLS for the Patroni REST API ({files}): "
            f"{exc.strerror or exc.__class__.__name__}"
        ) from None
    return ctx


def _message(payload, reason=""):
    """A short human message from a response body (JSON or text)."""
    if isinstance(payload, (dict, list)):
        text = json.dumps(payload, sort_keys=True)
    else:
        text = (payload or "").strip()
        if text.lstrip().startswith("<"):
            # BaseHTTPRequestHandler.send_error() HTML page: keep the reason only
            text = ""
    text = text or str(reason or "")
    if len(text) > _MAX_MESSAGE:
        text = text[:_MAX_MESSAGE] + "..."
    return text


def _request(method, path, body=None, url=None, config_file=None, timeout=5):
    """
    Send one request to the Patroni REST API.

    Returns ``(status, payload)``; payload is the decoded JSON body, or the
    text body when it isn't JSON. HTTP error statuses are returned, not
    raised. Raises ``CommandExecutionError`` when Patroni can't be reached.
    """
    conn = _connection(url, config_file)
    method = method.upper()
    target = conn["base_url"] + path
    headers = {"Accept": "application/json", "User-Agent": "pgsalt-patroni"}
    data = None
    if body is not None:
        data = json.dumps(body).encode("utf-8")
        headers["Content-Type"] = "application/json"
    if method not in _SAFE_METHODS and conn["username"] is not None:
        token = f"{conn['username']}:{conn['password']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(token).decode("ascii")

    handlers = [urllib.request.ProxyHandler({})]
    if target.startswith("https://"):
        handlers.append(urllib.request.HTTPSHandler(context=_ssl_context(conn)))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(target, data=data, headers=headers, method=method)

    try:
        with opener.open(req, timeout=timeout) as resp:
            status, raw, reason = resp.status, resp.read(), resp.reason
    except urllib.error.HTTPError as exc:
        status, reason = exc.code, exc.reason
        try:
            raw = exc.read()
        except (OSError, http.client.HTTPException):
            raw = b""
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        why = getattr(exc, "reason", None) or exc
        raise _PatroniUnreachable(
            f"Patroni REST API at {conn['base_url']} is not reachable: {why}"
        ) from None

    text = raw.decode("utf-8", errors="replace")
    try:
        payload = json.loads(text) if text.strip() else None
    except ValueError:
        payload = text
    log.debug("Patroni REST API %s %s -> HTTP %s", method, target, status)
    if isinstance(payload, str) or payload is None:
        payload = _message(payload, reason) if status >= 400 else (payload or "")
    return status, payload


def _get_json(path, url, config_file, timeout):
    status, payload = _request("GET", path, url=url, config_file=config_file, timeout=timeout)
    if status != 200 or not isinstance(payload, dict):
        raise _PatroniHTTPError(
            f"Patroni REST API GET {path} returned HTTP {status}: {_message(payload)}",
            status,
        )
    return payload


def _action(method, path, body, url, config_file, timeout, ok=(200, 202)):
    status, payload = _request(
        method, path, body=body, url=url, config_file=config_file, timeout=timeout
    )
    message = _message(payload)
    if status == 401:
        message = (
            f"authentication failed (HTTP 401): check restapi.authentication in the "
            f"Patroni config; Patroni said: {message}"
        )
    ret = {"result": status in ok, "message": message, "status": status}
    if not ret["result"]:
        _set_retcode()
    return ret


# --------------------------------------------------------------------------
# read-only calls
# --------------------------------------------------------------------------


def member(url=None, config_file=None, timeout=5):
    """
    Status of the local member: GET /patroni.

    Returns Patroni's dict (state, role, timeline, xlog, replication_state,
    pending_restart, patroni: {version, scope, name}, ...).

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.member
        salt '*' pgsalt_patroni.member url=http://10.0.0.1:8008
    """
    return _get_json("/patroni", url, config_file, timeout)


def cluster(url=None, config_file=None, timeout=5):
    """
    Cluster topology: GET /cluster.

    Returns Patroni's dict: {members: [{name, role, state, host, port,
    api_url, timeline, lag, pending_restart, tags, ...}], scope, ...}.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.cluster
    """
    return _get_json("/cluster", url, config_file, timeout)


def leader(url=None, config_file=None, timeout=5):
    """
    Name of the member holding the leader lock (role leader or
    standby_leader in /cluster), or None when the cluster has no leader.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.leader
    """
    return _leader_name(url, config_file, timeout)


def _leader_name(url, config_file, timeout):
    return (_leader_member(url, config_file, timeout) or {}).get("name")


def _leader_member(url, config_file, timeout):
    """The /cluster entry of the member holding the leader lock, or None."""
    for entry in cluster(url=url, config_file=config_file, timeout=timeout).get("members") or []:
        if isinstance(entry, dict) and entry.get("role") in _CLUSTER_LEADER_ROLES:
            return entry
    return None


def _api_base(api_url):
    """A member's REST API from the api_url /cluster lists (which ends in /patroni)."""
    return api_url.rsplit("/", 1)[0]


def health(url=None, config_file=None, timeout=5):
    """
    True when GET /health answers 200 (PostgreSQL is up and running), False
    otherwise, including when the REST API can't be reached.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.health
    """
    try:
        status, _ = _request("GET", "/health", url=url, config_file=config_file, timeout=timeout)
    except _PatroniUnreachable:
        return False
    return status == 200


def _probe(path, url, config_file, timeout):
    try:
        status, _ = _request("GET", path, url=url, config_file=config_file, timeout=timeout)
    except _PatroniUnreachable:
        return None
    return status


def is_ready(url=None, config_file=None, timeout=5):
    """
    Whether the local member is ready to serve in its role.

    Ready means state ``running`` and either a leader role (``primary`` on
    Patroni 4, ``master`` on 3) confirmed by GET /primary answering 200, a
    ``standby_leader`` confirmed by GET /standby-leader, or a replica whose
    ``replication_state`` is ``streaming`` (Patroni < 3.0.4 doesn't report
    it; then GET /replica answering 200 counts).

    Returns ``{'ready': bool, 'role': str|None, 'state': str|None, 'reason': str}``.
    An unreachable REST API gives ``ready: False`` with the reason, not an error.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.is_ready
    """
    try:
        status = member(url=url, config_file=config_file, timeout=timeout)
    except (_PatroniUnreachable, _PatroniHTTPError) as exc:
        return {"ready": False, "role": None, "state": None, "reason": str(exc)}

    role = status.get("role")
    state = status.get("state")
    ret = {"ready": False, "role": role, "state": state, "reason": ""}
    if state != "running":
        ret["reason"] = f"PostgreSQL state is {state!r}, not 'running'"
        return ret

    if role in _PRIMARY_ROLES:
        code = _probe("/primary", url, config_file, timeout)
        if code == 200:
            ret.update(ready=True, reason=f"running as {role} with the leader lock")
        else:
            ret["reason"] = f"role is {role} but GET /primary answered {code or 'nothing'}"
    elif role in _STANDBY_LEADER_ROLES:
        code = _probe("/standby-leader", url, config_file, timeout)
        if code == 200:
            ret.update(ready=True, reason="running as standby leader")
        else:
            ret["reason"] = f"role is {role} but GET /standby-leader answered {code or 'nothing'}"
    elif role in _REPLICA_ROLES:
        replication = status.get("replication_state")
        if replication == "streaming":
            ret.update(ready=True, reason="replica is streaming from its upstream")
        elif replication is None:
            code = _probe("/replica", url, config_file, timeout)
            if code == 200:
                ret.update(ready=True, reason="replica is running (GET /replica answered 200)")
            else:
                ret["reason"] = (
                    "replica reports no replication_state and GET /replica answered "
                    f"{code or 'nothing'}"
                )
        else:
            ret["reason"] = f"replica replication_state is {replication!r}, not 'streaming'"
    else:
        ret["reason"] = f"role is {role!r}"
    return ret


def wake_leader(url=None, config_file=None, timeout=5, wait=0):
    """
    Make the leader's Patroni run its HA loop now instead of up to loop_wait seconds
    later, once this member is in the cluster: the leader then creates this member's
    replication slot, without which a replica that just joined cannot stream. The wake-up
    is a PATCH /config that removes a key the configuration does not have: it changes
    nothing, and Patroni wakes its loop after every PATCH.

    With ``wait``, asks again every 0.1 s for up to that many seconds while this member
    is not in the cluster yet (it joins the DCS a moment after Patroni starts, and starts
    streaming about a second later). Only GET /cluster is asked, which needs no answer
    from PostgreSQL.

    Returns the leader's name; None when there is no other member to wake: no leader,
    this member leads, or it is not in the cluster (yet).

    CLI Example:

    .. code-block:: bash

        salt pg2 pgsalt_patroni.wake_leader
    """
    me = _read_config(config_file or _default_config_file()).get("name")
    deadline = time.monotonic() + float(wait)
    while True:
        try:
            leader = _leader_member(url, config_file, timeout)
            if leader is not None and leader.get("name") == me:
                return None
            api = leader and leader.get("api_url") and _api_base(leader["api_url"])
            # The leader's own view of the cluster, which its next loop acts on, holds ME.
            seen = api and cluster(url=api, config_file=config_file, timeout=timeout)
        except _PatroniUnreachable:
            seen = None  # this REST API is not up yet, or the leader's does not answer
        if seen and me in {m.get("name") for m in seen.get("members") or []}:
            patch_config({"pgsalt_wake_up": None}, url=api, config_file=config_file,
                         timeout=timeout)
            return leader["name"]
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.1)


def wait_ready(timeout=120, interval=1, url=None, config_file=None, request_timeout=5,
               wake=False):
    """
    Poll :py:func:`is_ready` until the member is ready or ``timeout`` seconds
    have passed. ``request_timeout`` bounds each HTTP request. With ``wake``, the
    leader is woken first, once this member is in the cluster (:py:func:`wake_leader`):
    a new replica streams seconds sooner.

    Returns the last is_ready dict: ``{'ready', 'role', 'state', 'reason'}``.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.wait_ready timeout=300
    """
    deadline = time.monotonic() + float(timeout)
    interval = max(float(interval), 0.05)
    if wake:
        try:
            wake_leader(url=url, config_file=config_file, timeout=request_timeout,
                        wait=min(10.0, float(timeout)))
        except CommandExecutionError as exc:
            log.debug("the leader was not woken: %s", exc)
    while True:
        remaining = deadline - time.monotonic()
        per_call = max(min(float(request_timeout), remaining), 0.5)
        last = is_ready(url=url, config_file=config_file, timeout=per_call)
        if last["ready"]:
            return last
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            last["reason"] = f"not ready after {timeout}s: {last['reason']}"
            return last
        time.sleep(min(interval, remaining))


def get_config(url=None, config_file=None, timeout=5):
    """
    Patroni's dynamic configuration (stored in the DCS): GET /config.

    Returns the config dict (ttl, loop_wait, postgresql: {parameters: ...}, ...).

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.get_config
    """
    return _get_json("/config", url, config_file, timeout)


# --------------------------------------------------------------------------
# unsafe calls (basic auth)
# --------------------------------------------------------------------------


def patch_config(patch, url=None, config_file=None, timeout=5):
    """
    Change the dynamic configuration with a JSON merge patch: PATCH /config.
    A ``null`` (None) value removes the key.

    Returns the new dynamic configuration dict. Raises CommandExecutionError
    when Patroni refuses the patch.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.patch_config '{"ttl": 30}'
        salt '*' pgsalt_patroni.patch_config \\
            '{"postgresql": {"parameters": {"max_connections": 200}}}'
    """
    if isinstance(patch, str):
        try:
            patch = json.loads(patch)
        except ValueError:
            raise CommandExecutionError("patch must be a dict or a JSON object") from None
    if not isinstance(patch, dict):
        raise CommandExecutionError("patch must be a dict or a JSON object")
    if not patch:
        return get_config(url=url, config_file=config_file, timeout=timeout)
    status, payload = _request(
        "PATCH", "/config", body=patch, url=url, config_file=config_file, timeout=timeout
    )
    if status != 200 or not isinstance(payload, dict):
        raise _PatroniHTTPError(
            f"Patroni REST API PATCH /config returned HTTP {status}: {_message(payload)}",
            status,
        )
    return payload


def switchover(candidate=None, leader=None, url=None, config_file=None, timeout=60):
    """
    Planned switchover: POST /switchover {leader, candidate}. ``leader``
    defaults to the current leader; without ``candidate`` Patroni picks one.
    Patroni answers after the switchover completes (or fails), hence the
    longer default ``timeout``.

    Returns ``{'result': bool, 'message': str, 'status': int}``.

    CLI Example:

    .. code-block:: bash

        salt 'pg1*' pgsalt_patroni.switchover candidate=pg2
    """
    current = leader
    if not current:
        current = _leader_name(url, config_file, min(timeout, 10))
        if not current:
            _set_retcode()
            return {
                "result": False,
                "message": "the cluster has no leader to switch over from; use failover",
                "status": None,
            }
    body = {"leader": current}
    if candidate:
        body["candidate"] = candidate
    return _action("POST", "/switchover", body, url, config_file, timeout)


def accepts_writes(url=None, config_file=None, timeout=2):
    """
    Whether the member (the local one, or the one at URL) is the primary and accepts
    writes: GET /primary answers 200 with the WAL location Patroni has just read from
    PostgreSQL (``pg_is_in_recovery()`` false). When Patroni cannot query PostgreSQL, as
    in the middle of a promotion, it answers from its own idea of the role, without a
    location: that does not count.

    CLI Example:

    .. code-block:: bash

        salt pg2 pgsalt_patroni.accepts_writes
    """
    try:
        status, payload = _request("GET", "/primary", url=url, config_file=config_file,
                                   timeout=timeout)
    except _PatroniUnreachable:
        return False
    return (status == 200 and isinstance(payload, dict)
            and "location" in (payload.get("xlog") or {}))


def switch_to(leader, timeout=60, interval=0.05, url=None, config_file=None, leader_url=None,
              name=None):
    """
    Run on the candidate: switch over from LEADER to this member and return as soon as
    it accepts writes. Patroni answers POST /switchover only on its next 1-second poll;
    polling here in INTERVAL steps saves that, which clients held by a paused pooler feel.
    LEADER_URL (the leader's REST API) and NAME (this member's) save the lookups.

    Returns ``{'result': bool, 'message': str, 'seconds': float}``.

    CLI Example:

    .. code-block:: bash

        salt pg2 pgsalt_patroni.switch_to pg1
    """
    me = name or member(url=url, config_file=config_file)["patroni"]["name"]
    # Sent to the leader's own API: that wakes its loop now, not after loop_wait.
    api = leader_url or {m.get("name"): m.get("api_url") for m in
                         cluster(url=url, config_file=config_file).get("members") or []
                         }.get(leader)
    if not api:
        raise CommandExecutionError(f"{leader} is not a member with a REST API")
    leader_base = _api_base(api)
    started = time.monotonic()
    answer = {}
    poster = threading.Thread(daemon=True, target=lambda: answer.update(_action(
        "POST", "/switchover", {"leader": leader, "candidate": me}, leader_base, config_file,
        timeout)))
    poster.start()
    while time.monotonic() - started < float(timeout):
        if answer and not answer["result"]:
            break
        if accepts_writes(url, config_file):
            return {"result": True, "message": f"{me} is the primary",
                    "seconds": round(time.monotonic() - started, 2)}
        time.sleep(interval)
    poster.join(1)
    _set_retcode()
    return {"result": False, "seconds": round(time.monotonic() - started, 2),
            "message": answer.get("message") or f"{me} is not the primary after {timeout}s"}


def failover(candidate, url=None, config_file=None, timeout=60):
    """
    Manual failover to ``candidate``: POST /failover {candidate}. Works
    without a healthy leader.

    Returns ``{'result': bool, 'message': str, 'status': int}``.

    CLI Example:

    .. code-block:: bash

        salt 'pg1*' pgsalt_patroni.failover pg2
    """
    if not candidate:
        raise CommandExecutionError("failover needs a candidate")
    return _action("POST", "/failover", {"candidate": candidate}, url, config_file, timeout)


def restart(pending_only=False, url=None, config_file=None, timeout=120):
    """
    Restart PostgreSQL on this member: POST /restart. With
    ``pending_only=True`` only when Patroni flags pending_restart; when
    nothing is pending the result is True with restarted False.
    Patroni answers once PostgreSQL is back, hence the longer ``timeout``.

    Returns ``{'result': bool, 'restarted': bool, 'message': str, 'status': int}``.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.restart pending_only=True
    """
    body = {"restart_pending": True} if pending_only else {}
    ret = _action("POST", "/restart", body, url, config_file, timeout, ok=(200,))
    ret["restarted"] = ret["result"]
    if (
        not ret["result"]
        and pending_only
        and ret["status"] == 503
        and "conditions are not satisfied" in ret["message"]
    ):
        ret.update(result=True, message="no restart pending: " + ret["message"])
        _set_retcode(0)
    return ret


def reload(url=None, config_file=None, timeout=5):
    """
    Make Patroni re-read its configuration file: POST /reload.

    Returns ``{'result': bool, 'message': str, 'status': int}``.

    CLI Example:

    .. code-block:: bash

        salt '*' pgsalt_patroni.reload
    """
    return _action("POST", "/reload", None, url, config_file, timeout)


def reinit(force=False, url=None, config_file=None, timeout=5):
    """
    Rebuild this replica from the leader: POST /reinitialize. ``force``
    cancels a running task first.

    Returns ``{'result': bool, 'message': str, 'status': int}``.

    CLI Example:

    .. code-block:: bash

        salt 'pg3*' pgsalt_patroni.reinit force=True
    """
    return _action("POST", "/reinitialize", {"force": bool(force)}, url, config_file, timeout)
