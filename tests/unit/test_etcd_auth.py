"""Unit tests of etcd's own authentication in pgsalt_etcd (execution module and the
``auth_present`` state), on a fake of etcd's Auth service that keeps users, roles and
permissions as etcd does and answers with etcd's errors."""

import json
import warnings
from unittest.mock import patch

import grpc
import pgsalt_states
import pytest
from loaders import load
from test_etcd import FakeRpcError

pytestmark = pytest.mark.unit

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    etcd_mod = load("pgsalt_etcd_module_for_auth", "_modules/pgsalt_etcd.py")
etcd_state = load("pgsalt_etcd_state_for_auth", "_states/pgsalt_etcd.py")
rpc = etcd_mod.etcd3.etcdrpc

LOGINS = [{"user": "patroni-demo", "password": "demo-etcd-login-Zp6yN2wQ",
           "prefix": "/service/demo/"},
          {"user": "patroni-second", "password": "second-etcd-login-Hc8tW3xM",
           "prefix": "/service/second/"}]
ADMINS = ["pg1", "pg2", "pg3"]


def _fail(code, text):
    raise FakeRpcError(code, f"etcdserver: {text}")


class FakeEtcdAuth:
    """etcd's Auth service and a key count, as one etcd cluster keeps them."""

    def __init__(self, keys=None):
        self.enabled = False
        self.users = {}            # name: {"password": str, "roles": set}
        self.roles = {}            # name: {(type, key, range_end)}
        self.keys = dict(keys or {})

    def _user(self, name):
        if name not in self.users:
            _fail(grpc.StatusCode.FAILED_PRECONDITION, "user name not found")
        return self.users[name]

    def Authenticate(self, req, *args, **kwargs):
        if not self.enabled:
            _fail(grpc.StatusCode.FAILED_PRECONDITION, "authentication is not enabled")
        if self.users.get(req.name, {}).get("password") != req.password:
            _fail(grpc.StatusCode.INVALID_ARGUMENT,
                  "authentication failed, invalid user ID or password")
        return rpc.AuthenticateResponse(token="token")

    def UserAdd(self, req, *args, **kwargs):
        if req.name in self.users:
            _fail(grpc.StatusCode.FAILED_PRECONDITION, "user name already exists")
        self.users[req.name] = {"password": req.password, "roles": set()}

    def UserChangePassword(self, req, *args, **kwargs):
        self._user(req.name)["password"] = req.password

    def UserGrantRole(self, req, *args, **kwargs):
        if req.role != "root" and req.role not in self.roles:
            _fail(grpc.StatusCode.FAILED_PRECONDITION, "role name not found")
        self._user(req.user)["roles"].add(req.role)

    def UserDelete(self, req, *args, **kwargs):
        self._user(req.name)
        del self.users[req.name]

    def UserList(self, req, *args, **kwargs):
        return rpc.AuthUserListResponse(users=sorted(self.users))

    def UserGet(self, req, *args, **kwargs):
        return rpc.AuthUserGetResponse(roles=sorted(self._user(req.name)["roles"]))

    def RoleAdd(self, req, *args, **kwargs):
        if req.name in self.roles:
            _fail(grpc.StatusCode.FAILED_PRECONDITION, "role name already exists")
        self.roles[req.name] = set()

    def RoleList(self, req, *args, **kwargs):
        return rpc.AuthRoleListResponse(roles=sorted(self.roles))

    def RoleGet(self, req, *args, **kwargs):
        perms = [rpc.auth_pb2.Permission(permType=t, key=k, range_end=e)
                 for t, k, e in sorted(self.roles[req.role])]
        return rpc.AuthRoleGetResponse(perm=perms)

    def RoleGrantPermission(self, req, *args, **kwargs):
        perm = req.perm
        self.roles[req.name] = {p for p in self.roles[req.name]
                                if (p[1], p[2]) != (perm.key, perm.range_end)}
        self.roles[req.name].add((perm.permType, perm.key, perm.range_end))

    def RoleRevokePermission(self, req, *args, **kwargs):
        self.roles[req.role] = {p for p in self.roles[req.role]
                                if (p[1].decode(), p[2].decode()) != (req.key, req.range_end)}

    def AuthEnable(self, req, *args, **kwargs):
        if "root" not in self.users.get("root", {}).get("roles", set()):
            _fail(grpc.StatusCode.FAILED_PRECONDITION, "root user does not exist")
        self.enabled = True

    def Range(self, req, *args, **kwargs):
        count = sum(n for prefix, n in self.keys.items() if prefix.encode() == req.key)
        return rpc.RangeResponse(count=count)


class FakeClient:
    def __init__(self, etcd):
        self.channel = etcd
        self.kvstub = etcd
        self.timeout = 5
        self.call_credentials = self.metadata = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


@pytest.fixture
def etcd():
    fake = FakeEtcdAuth()
    with patch.object(etcd_mod, "_client", lambda endpoints=None, **tls: FakeClient(fake)), \
            patch.object(rpc, "AuthStub", lambda channel: channel):
        yield fake


@pytest.fixture
def configure_loader_modules():
    salt = {f"pgsalt_etcd.{fn}": getattr(etcd_mod, fn) for fn in (
        "auth_status", "auth_apply", "login_works", "key_count", "prefix_permission")}
    return {etcd_mod: {"__opts__": {}, "__salt__": {}, "__context__": {}},
            etcd_state: {"__salt__": salt, "__opts__": {"test": False},
                         "__utils__": {"pgsalt_states.unavailable": pgsalt_states.unavailable}}}


def present(test=False, logins=LOGINS, admins=ADMINS):
    with patch.dict(etcd_state.__opts__, {"test": test}):
        ret = etcd_state.auth_present("etcd-auth", logins, admins, endpoints=["https://x:2379"])
    text = json.dumps(ret)
    assert not [login for login in logins if login["password"] in text], "a password leaked"
    return ret


def test_a_new_etcd_gets_its_logins_admins_and_auth_in_test_mode_then_for_real(etcd):
    ret = present(test=True)
    assert ret["result"] is None and etcd.users == {} and not etcd.enabled
    assert ret["changes"]["old"] == {"enabled": False, "users": [], "roles": []}
    assert ret["changes"]["new"][-1] == "auth enabled"
    assert "role patroni-demo: readwrite on /service/demo/ only" in ret["changes"]["new"]

    ret = present()
    assert ret["result"] is True and ret["changes"], ret
    assert etcd.enabled
    # each Patroni may read and write its own keys only
    assert etcd.roles == {"patroni-demo": {(2, b"/service/demo/", b"/service/demo0")},
                          "patroni-second": {(2, b"/service/second/", b"/service/second0")}}
    assert {name: user["roles"] for name, user in etcd.users.items()} == {
        "patroni-demo": {"patroni-demo"}, "patroni-second": {"patroni-second"},
        "root": {"root"}, "pg1": {"root"}, "pg2": {"root"}, "pg3": {"root"}}
    assert etcd_mod.login_works("patroni-demo", LOGINS[0]["password"]) is True
    assert etcd_mod.login_works("patroni-demo", "wrong-password-123456") is False
    # nothing left to do: a re-run changes nothing, in either mode
    for test in (True, False):
        ret = present(test=test)
        assert (ret["result"], ret["changes"]) == (True, {}), ret


def test_auth_stays_off_while_a_patroni_runs_on_the_etcd(etcd):
    etcd.keys["/service/demo/members/"] = 3
    ret = present()
    assert ret["result"] is False and not etcd.enabled
    assert "/service/demo/" in ret["comment"] and "etcd:auth false" in ret["comment"]
    # stopped everywhere, its lease-bound keys gone, its cluster's other keys kept
    etcd.keys = {"/service/demo/config": 1, "/service/demo/initialize": 1}
    assert present()["result"] is True and etcd.enabled


def test_a_changed_password_a_widened_role_and_a_departed_admin_are_put_right(etcd):
    present()
    etcd.users["patroni-demo"]["password"] = "an-older-password-1234"
    etcd.roles["patroni-second"].add((2, b"/service/", b"/service0"))
    etcd.users["pg9"] = {"password": "x", "roles": {"root"}}
    ret = present()
    assert ret["result"] is True
    assert set(ret["changes"]["new"]) == {
        "user patroni-demo: login with roles patroni-demo",
        "role patroni-second: readwrite on /service/second/ only",
        "user pg9: deleted (no longer a dcs host)"}
    assert etcd_mod.login_works("patroni-demo", LOGINS[0]["password"]) is True
    assert etcd.roles["patroni-second"] == {(2, b"/service/second/", b"/service/second0")}
    assert "pg9" not in etcd.users


def test_adds_another_dcs_host_made_at_the_same_time_count_as_done(etcd):
    etcd.users["pg2"] = {"password": "x", "roles": set()}
    etcd.roles["patroni-demo"] = set()
    done = etcd_mod.auth_apply([{"role": "patroni-demo", "prefix": "/service/demo/"},
                                {"user": "pg2", "password": "y", "roles": ["root"]}])
    assert done == ["role patroni-demo: readwrite on /service/demo/", "user pg2: roles root"]
    assert etcd.users["pg2"]["roles"] == {"root"}


def test_an_unreachable_etcd_is_predicted_in_test_mode_and_fails_for_real():
    def unreachable(*args, **kwargs):
        raise etcd_mod.EtcdUnreachable("no etcd endpoint answered: https://x:2379 (refused)")
    with patch.object(etcd_mod, "_client", unreachable):
        assert present(test=True)["result"] is None
        ret = present()
    assert ret["result"] is False and "no etcd endpoint answered" in ret["comment"]
