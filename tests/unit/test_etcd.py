"""Unit tests for the pgsalt_etcd execution and state modules, on a fake etcd client layer."""

import os
import pathlib
import time
import warnings
from unittest.mock import MagicMock, patch

import grpc
import pgsalt_states
import pytest
from loaders import load
from salt.exceptions import CommandExecutionError

UTILS = {"pgsalt_states.unavailable": pgsalt_states.unavailable}

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]




with warnings.catch_warnings():
    # etcd3's generated protobuf code is old; the pure-Python backend says so loudly.
    warnings.simplefilter("ignore", DeprecationWarning)
    etcd_mod = load("pgsalt_etcd_module", "_modules/pgsalt_etcd.py")
etcd_state = load("pgsalt_etcd_state", "_states/pgsalt_etcd.py")

PG1 = "http://10.77.0.11:2379"
PG2 = "http://10.77.0.12:2379"
PG3 = "http://10.77.0.13:2379"
PEER1 = "http://10.77.0.11:2380"
PEER2 = "http://10.77.0.12:2380"
PEER3 = "http://10.77.0.13:2380"
PEER4 = "http://10.77.0.14:2380"


class FakeMember:
    def __init__(self, member_id, name, peer_urls, client_urls):
        self.id = member_id
        self.name = name
        self.peer_urls = list(peer_urls)
        self.client_urls = list(client_urls)


class FakeStatus:
    def __init__(self, leader):
        self.leader = leader


class FakeCluster:
    """Membership plus which client URLs answer, shared by every fake client."""

    def __init__(self, *members, up=None, leader=None):
        self.members = list(members)
        self.up = set(up if up is not None else [u for m in members for u in m.client_urls])
        self.leader = leader if leader is not None else (members[0].id if members else None)
        self.next_id = 1000
        self.closed = 0
        self.deleted = []

    def client(self, endpoints=None, **tls):
        """Stands in for pgsalt_etcd._client."""
        for url in etcd_mod._url_list(endpoints, etcd_mod.DEFAULT_ENDPOINTS):
            if url in self.up:
                return FakeClient(self)
        raise etcd_mod.EtcdUnreachable("no etcd endpoint answered: fake")


class FakeClient:
    def __init__(self, cluster):
        self.cluster = cluster

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.cluster.closed += 1

    @property
    def members(self):
        yield from self.cluster.members

    def add_member(self, urls):
        if any(set(urls) & set(m.peer_urls) for m in self.cluster.members):
            raise FakeRpcError(grpc.StatusCode.FAILED_PRECONDITION, "Peer URLs already exists")
        self.cluster.next_id += 1
        new = FakeMember(self.cluster.next_id, "", urls, [])
        self.cluster.members.append(new)
        return new

    def remove_member(self, member_id):
        before = len(self.cluster.members)
        self.cluster.members = [m for m in self.cluster.members if m.id != member_id]
        if len(self.cluster.members) == before:
            raise FakeRpcError(grpc.StatusCode.NOT_FOUND, "member not found")

    def status(self):
        leader = next((m for m in self.cluster.members if m.id == self.cluster.leader), None)
        return FakeStatus(leader)

    def delete_prefix(self, prefix):
        self.cluster.deleted.append(prefix)
        return type("DeleteRangeResponse", (), {"deleted": 4})()


class FakeRpcError(grpc.RpcError):
    def __init__(self, code, details):
        super().__init__(details)
        self._code = code
        self._details = details

    def code(self):
        return self._code

    def details(self):
        return self._details


def three_members(**kwargs):
    return FakeCluster(
        FakeMember(11, "pg1", [PEER1], [PG1]),
        FakeMember(12, "pg2", [PEER2], [PG2]),
        FakeMember(13, "pg3", [PEER3], [PG3]),
        **kwargs,
    )


@pytest.fixture
def cluster():
    fake = three_members()
    with patch.object(etcd_mod, "_client", fake.client):
        yield fake


@pytest.fixture
def configure_loader_modules():
    # The state sees the real execution module functions; the fixtures above
    # fake only the network layer beneath them.
    salt = {
        f"pgsalt_etcd.{fn}": getattr(etcd_mod, fn)
        for fn in ("reachable", "members", "member", "add", "remove", "health", "leader")
    }
    return {etcd_mod: {"__opts__": {}, "__salt__": {}, "__context__": {}},
            etcd_state: {"__salt__": salt, "__opts__": {"test": False}, "__utils__": UTILS}}


@pytest.fixture(autouse=True)
def local_files(tmp_path):
    """The host's etcd environment and Patroni config: absent unless a test writes them."""
    with patch.multiple(etcd_mod, ETCD_ENVIRONMENT=str(tmp_path / "etcd"),
                        PATRONI_CONFIG=str(tmp_path / "config.yml")):
        yield tmp_path


@pytest.fixture
def test_mode():
    with patch.dict(etcd_state.__opts__, {"test": True}):
        yield


# --- module: plumbing -------------------------------------------------------


def test_protobuf_backend_is_set_before_etcd3_import():
    assert os.environ.get("PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION") == "python"
    assert etcd_mod.IMPORT_ERROR is None


def test_virtual_reports_missing_library():
    with patch.object(etcd_mod, "IMPORT_ERROR", "python-etcd3 is not installed (x)"):
        ok, reason = etcd_mod.__virtual__()
    assert ok is False
    assert reason.startswith("python-etcd3 is not installed")
    assert etcd_mod.__virtual__() == "pgsalt_etcd"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (None, etcd_mod.DEFAULT_ENDPOINTS),
        ("", etcd_mod.DEFAULT_ENDPOINTS),
        (f"{PG1}, {PG2} ,", [PG1, PG2]),
        ([PG1, " ", PG3], [PG1, PG3]),
    ],
)
def test_url_list(given, expected):
    assert etcd_mod._url_list(given, etcd_mod.DEFAULT_ENDPOINTS) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://10.77.0.11:2379", ("10.77.0.11", 2379)),
        ("https://etcd.example:12379", ("etcd.example", 12379)),
        ("10.77.0.11:2379", ("10.77.0.11", 2379)),
        ("http://10.77.0.11", ("10.77.0.11", 2379)),
        ("http://[fd00::11]:2379", ("[fd00::11]", 2379)),
    ],
)
def test_host_port(url, expected):
    assert etcd_mod._host_port(url) == expected


def test_connect_passes_tls_options():
    with patch.object(etcd_mod.etcd3, "client") as client:
        etcd_mod._connect("https://10.77.0.11:2379", ca_cert="/ca", cert_cert="/c", cert_key="/k")
    client.assert_called_once_with(
        host="10.77.0.11", port=2379, ca_cert="/ca", cert_cert="/c", cert_key="/k", timeout=5,
        user=None, password=None,
    )


def test_connect_https_without_ca_is_an_error():
    with pytest.raises(CommandExecutionError, match="no ca_cert"):
        etcd_mod._connect("https://10.77.0.11:2379")


def test_client_tries_endpoints_in_order():
    dead = MagicMock()
    type(dead).members = property(
        lambda self: (_ for _ in ()).throw(
            FakeRpcError(grpc.StatusCode.UNAVAILABLE, "connection refused")
        )
    )
    alive = MagicMock()
    alive.members = iter([])
    with patch.object(etcd_mod, "_connect", side_effect=[dead, alive]) as connect:
        assert etcd_mod._client([PG1, PG2], timeout=3) is alive
    assert [c.args[0] for c in connect.call_args_list] == [PG1, PG2]
    assert connect.call_args.kwargs == {"timeout": 3}
    dead.close.assert_called_once()


def test_client_passes_over_a_member_without_a_leader_without_waiting_for_it():
    # a member of a new cluster that started before the others: its member list would
    # wait for a quorum until the timeout
    lonely = MagicMock()
    lonely.maintenancestub.Status.return_value.leader = 0
    type(lonely).members = property(lambda self: pytest.fail("asked for its members"))
    alive = MagicMock()
    alive.maintenancestub.Status.return_value.leader = 12
    alive.members = iter([])
    with patch.object(etcd_mod, "_connect", side_effect=[lonely, alive]):
        assert etcd_mod._client([PG1, PG2]) is alive
    lonely.close.assert_called_once()
    with patch.object(etcd_mod, "_connect", return_value=lonely):
        with pytest.raises(etcd_mod.EtcdUnreachable, match="no leader yet"):
            etcd_mod._client([PG1])


def test_client_raises_unreachable_naming_endpoints():
    dead = MagicMock()
    type(dead).members = property(
        lambda self: (_ for _ in ()).throw(etcd_mod.etcd3.exceptions.ConnectionFailedError())
    )
    with patch.object(etcd_mod, "_connect", return_value=dead):
        with pytest.raises(etcd_mod.EtcdUnreachable) as err:
            etcd_mod._client(f"{PG1},{PG2}")
    assert PG1 in str(err.value) and PG2 in str(err.value)


def test_client_defaults_to_https_on_localhost_with_a_ca():
    alive = MagicMock()
    alive.members = iter([])
    with patch.object(etcd_mod, "_connect", return_value=alive) as connect:
        assert etcd_mod._client(ca_cert="/ca") is alive
        connect.assert_called_once_with("https://127.0.0.1:2379", ca_cert="/ca")
        connect.reset_mock()
        etcd_mod._client()
        connect.assert_called_once_with("http://127.0.0.1:2379")


# --- module: the host's own TLS files -----------------------------------------


def conn(ca_cert=None, cert_cert=None, cert_key=None, user=None, password=None):
    return {"ca_cert": ca_cert, "cert_cert": cert_cert, "cert_key": cert_key, "user": user,
            "password": password}


@pytest.mark.parametrize(("admin", "cert"), [("", "/tls/etcd.crt"),
                                             ('PGSALT_ADMIN_CERT_FILE="/tls/host.crt"\n',
                                              "/tls/host.crt")])
def test_local_tls_reads_the_etcd_environment_and_prefers_the_admin_certificate(
        local_files, admin, cert):
    (local_files / "etcd").write_text(
        '# Managed by Salt\nETCD_NAME="pg1"\nETCD_CERT_FILE="/tls/etcd.crt"\n'
        'ETCD_KEY_FILE="/tls/host.key"\nETCD_TRUSTED_CA_FILE="/tls/ca.crt"\n'
        '# ETCD_CERT_FILE="/commented/out.crt"\n' + admin)
    (local_files / "config.yml").write_text("etcd3: {cacert: /patroni/ca.crt}\n")
    assert etcd_mod._local_tls() == conn("/tls/ca.crt", cert, "/tls/host.key")


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("etcd3:\n  hosts: [10.77.0.11:2379]\n  protocol: https\n  cacert: /tls/ca.crt\n"
         "  cert: /tls/etcd.crt\n  key: /tls/host.key\n  username: patroni-demo\n"
         "  password: secret-login-123456\n",
         conn("/tls/ca.crt", "/tls/etcd.crt", "/tls/host.key", "patroni-demo",
              "secret-login-123456")),
        ("etcd3:\n  hosts: [10.77.0.11:2379]\n", conn()),
        (None, conn()),
    ],
)
def test_local_tls_without_an_etcd_environment_reads_patroni_config(local_files, config,
                                                                    expected):
    if config is not None:
        (local_files / "config.yml").write_text(config)
    assert etcd_mod._local_tls() == expected


def test_discard_data_removes_the_member_directory_of_a_stopped_etcd(local_files):
    data = local_files / "data"
    (data / "member" / "wal").mkdir(parents=True)
    (local_files / "etcd").write_text(f'ETCD_DATA_DIR="{data}"\n')
    status = MagicMock(return_value=True)
    with patch.dict(etcd_mod.__salt__, {"service.status": status}, clear=True), \
            patch.object(etcd_mod, "log") as log:
        with pytest.raises(CommandExecutionError, match="etcd is running: stop it"):
            etcd_mod.discard_data()
        assert (data / "member").is_dir()
        status.return_value = False
        assert etcd_mod.discard_data() == {"removed": str(data / "member")}
        assert data.is_dir() and not (data / "member").exists()
        assert etcd_mod.discard_data() == {"removed": None}
    status.assert_called_with("etcd")
    log.warning.assert_called_once()  # a removal is in the minion's log


def test_tls_uses_the_local_files_only_when_none_is_given():
    with patch.object(etcd_mod, "_local_tls", return_value=conn("/ca", "/c", "/k", "u", "pw")):
        assert etcd_mod._tls(None, None, None, 5) == {**conn("/ca", "/c", "/k", "u", "pw"),
                                                      "timeout": 5}
        assert etcd_mod._tls("/own-ca", None, None, 5) == {
            "ca_cert": "/own-ca", "cert_cert": None, "cert_key": None, "timeout": 5}


# --- module: membership -----------------------------------------------------


def test_members(cluster):
    found = etcd_mod.members(endpoints=[PG2])
    assert found[0] == {"id": 11, "name": "pg1", "peer_urls": [PEER1], "client_urls": [PG1]}
    assert [m["name"] for m in found] == ["pg1", "pg2", "pg3"]


def test_members_falls_over_to_next_endpoint(cluster):
    cluster.up = {PG3}
    assert len(etcd_mod.members(endpoints=f"{PG1},{PG2},{PG3}")) == 3


def test_reachable(cluster):
    assert etcd_mod.reachable(endpoints=[PG1]) is True
    cluster.up = set()
    assert etcd_mod.reachable(endpoints=[PG1]) is False


def test_member(cluster):
    assert etcd_mod.member("pg2", endpoints=[PG1])["id"] == 12
    assert etcd_mod.member("pg9", endpoints=[PG1]) is None


def test_add(cluster):
    new = etcd_mod.add(PEER4, endpoints=[PG1])
    assert new == {"id": 1001, "name": "", "peer_urls": [PEER4], "client_urls": []}
    assert len(cluster.members) == 4


def test_add_reports_server_error(cluster):
    with pytest.raises(CommandExecutionError, match="Peer URLs already exists"):
        etcd_mod.add([PEER1], endpoints=[PG1])


@pytest.mark.parametrize("key", ["pg3", 13, "13", "d"])
def test_remove_by_name_or_id(cluster, key):
    removed = etcd_mod.remove(key, endpoints=[PG1])
    assert removed["name"] == "pg3"
    assert [m.name for m in cluster.members] == ["pg1", "pg2"]


def test_delete_prefix_deletes_one_clusters_keys_only(cluster):
    assert etcd_mod.delete_prefix("/service/demo", endpoints=[PG1]) == 4
    assert cluster.deleted == ["/service/demo/"]
    for prefix in ("/", "/service/", "", None):
        with pytest.raises(CommandExecutionError, match="refusing"):
            etcd_mod.delete_prefix(prefix, endpoints=[PG1])
    assert cluster.deleted == ["/service/demo/"]


def test_remove_unknown(cluster):
    with pytest.raises(CommandExecutionError, match="no etcd member"):
        etcd_mod.remove("pg9", endpoints=[PG1])


def test_health_all_good(cluster):
    assert etcd_mod.health(endpoints=[PG1]) == {
        "healthy": True,
        "members": 3,
        "leader": "pg1",
        "unhealthy": [],
    }


def test_health_with_dead_and_unstarted_members(cluster):
    cluster.up.discard(PG3)
    cluster.members.append(FakeMember(255, "", [PEER4], []))
    assert etcd_mod.health(endpoints=[PG1]) == {
        "healthy": False,
        "members": 4,
        "leader": "pg1",
        "unhealthy": ["pg3", "ff"],
    }


def test_health_without_leader(cluster):
    cluster.leader = None
    result = etcd_mod.health(endpoints=[PG1])
    assert result["healthy"] is False and result["leader"] is None


def test_leader(cluster):
    cluster.leader = 12
    assert etcd_mod.leader(endpoints=[PG3]) == "pg2"


# --- module: initial_state --------------------------------------------------


def test_initial_state_fresh_bootstrap(tmp_path):
    fake = FakeCluster(up=set())
    with patch.object(etcd_mod, "_client", fake.client):
        assert etcd_mod.initial_state("pg1", PEER1, [PG2, PG3], str(tmp_path)) == "new"


def test_initial_state_trusts_what_member_present_just_found(tmp_path):
    # member_present asked a moment ago in this job and nothing answered: the members
    # that started first hold connections without a quorum, so asking again would only
    # wait out the timeout once more
    fake = FakeCluster(up=set())
    with patch.object(etcd_mod, "_client", fake.client):
        assert etcd_mod.reachable([PG3, PG2]) is False
    with patch.object(etcd_mod, "_client", side_effect=AssertionError("asked again")):
        assert etcd_mod.initial_state("pg1", PEER1, [PG2, PG3], str(tmp_path)) == "new"
    with patch.object(etcd_mod.time, "monotonic", return_value=time.monotonic() + 60):
        running = three_members()
        with patch.object(etcd_mod, "_client", running.client):
            assert etcd_mod.initial_state("pg1", PEER1, [PG2, PG3], str(tmp_path)) == \
                "existing"


def test_initial_state_joining_running_cluster(cluster, tmp_path):
    assert etcd_mod.initial_state("pg4", PEER4, [PG1], str(tmp_path)) == "existing"


def test_initial_state_with_data_listed(cluster, tmp_path):
    (tmp_path / "member").mkdir()
    assert etcd_mod.initial_state("pg2", PEER2, [PG1, PG3], str(tmp_path)) == "existing"


def test_initial_state_with_data_pending_entry_matches_by_peer_urls(cluster, tmp_path):
    (tmp_path / "member").mkdir()
    cluster.members.append(FakeMember(14, "", [PEER4], []))
    assert etcd_mod.initial_state("pg4", [PEER4], [PG1], str(tmp_path)) == "existing"


def test_initial_state_with_data_not_listed(cluster, tmp_path):
    (tmp_path / "member").mkdir()
    assert etcd_mod.initial_state("pg4", PEER4, [PG1], str(tmp_path)) == "new"


def test_initial_state_with_data_nothing_reachable(tmp_path):
    (tmp_path / "member").mkdir()
    fake = three_members(up=set())
    with patch.object(etcd_mod, "_client", fake.client):
        assert etcd_mod.initial_state("pg1", PEER1, [PG2, PG3], str(tmp_path)) == "new"


# --- state: member_present --------------------------------------------------


def test_member_present_bootstrap_when_nothing_answers(tmp_path):
    fake = FakeCluster(up=set())
    with patch.object(etcd_mod, "_client", fake.client):
        ret = etcd_state.member_present("pg1", [PEER1], endpoints=[PG2, PG3])
    assert ret == {
        "name": "pg1",
        "result": True,
        "changes": {},
        "comment": "no etcd cluster reachable yet; the member bootstraps it",
    }


@pytest.mark.parametrize("mode", ["test", "real"])
def test_member_present_already_member(cluster, mode):
    with patch.dict(etcd_state.__opts__, {"test": mode == "test"}):
        ret = etcd_state.member_present("pg2", [PEER2], endpoints=[PG1])
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert len(cluster.members) == 3


@pytest.mark.parametrize("mode", ["test", "real"])
def test_member_present_pending_entry_is_left_alone(cluster, mode):
    cluster.members.append(FakeMember(14, "", [PEER4], []))
    with patch.dict(etcd_state.__opts__, {"test": mode == "test"}):
        ret = etcd_state.member_present("pg4", PEER4, endpoints=[PG1], replace=True)
    assert ret["result"] is True and ret["changes"] == {}
    assert [m.id for m in cluster.members] == [11, 12, 13, 14]


def test_member_present_add_test_mode(cluster, test_mode):
    ret = etcd_state.member_present("pg4", [PEER4], endpoints=[PG1])
    assert ret["result"] is None
    assert ret["changes"] == {"old": None, "new": {"name": "pg4", "peer_urls": [PEER4]}}
    assert "would be added" in ret["comment"]
    assert len(cluster.members) == 3


def test_member_present_add(cluster):
    ret = etcd_state.member_present("pg4", [PEER4], endpoints=[PG1])
    assert ret["result"] is True
    assert ret["changes"] == {"old": None, "new": {"name": "pg4", "peer_urls": [PEER4], "id": 1001}}
    assert cluster.members[-1].peer_urls == [PEER4]


def test_member_present_moved_peer_urls_test_mode(cluster, test_mode):
    moved = "http://10.77.0.23:2380"
    ret = etcd_state.member_present("pg3", moved, endpoints=[PG1])
    assert ret["result"] is None
    assert ret["changes"]["old"] == [
        {"id": 13, "name": "pg3", "peer_urls": [PEER3], "client_urls": [PG3]}
    ]
    assert ret["changes"]["new"] == {"name": "pg3", "peer_urls": [moved]}
    assert len(cluster.members) == 3


def test_member_present_moved_peer_urls(cluster):
    moved = "http://10.77.0.23:2380"
    ret = etcd_state.member_present("pg3", moved, endpoints=[PG1])
    assert ret["result"] is True
    assert ret["changes"]["old"][0]["id"] == 13
    assert ret["changes"]["new"]["peer_urls"] == [moved]
    assert [m.peer_urls for m in cluster.members] == [[PEER1], [PEER2], [moved]]
    assert "after removing pg3" in ret["comment"]


def test_member_present_replace_rebuilt_host(cluster):
    ret = etcd_state.member_present("pg3", [PEER3], endpoints=[PG1], replace=True)
    assert ret["result"] is True
    assert ret["changes"]["old"][0]["id"] == 13
    assert ret["changes"]["new"]["id"] == 1001
    assert [m.id for m in cluster.members] == [11, 12, 1001]


def test_member_present_replace_skipped_while_data_exists(cluster, tmp_path):
    (tmp_path / "member").mkdir()
    ret = etcd_state.member_present(
        "pg3", [PEER3], endpoints=[PG1], replace=True, data_dir=str(tmp_path)
    )
    assert ret["result"] is True and ret["changes"] == {}
    assert [m.id for m in cluster.members] == [11, 12, 13]


def test_member_present_replace_keeps_a_named_peer_of_a_bootstrap():
    # etcd lists the peers of its initial cluster by name before they first start (no
    # client URLs): such an entry is this host's own, still to come, not lost data.
    fake = FakeCluster(FakeMember(11, "pg1", [PEER1], [PG1]), FakeMember(12, "pg2", [PEER2], []),
                       FakeMember(13, "pg3", [PEER3], ["http://10.77.0.13:2379"]))
    with patch.object(etcd_mod, "_client", fake.client):
        ret = etcd_state.member_present("pg2", [PEER2], endpoints=[PG1], replace=True)
    assert ret["result"] is True and ret["changes"] == {}, ret
    assert [m.id for m in fake.members] == [11, 12, 13]


def test_member_present_peer_urls_held_by_other_member(cluster):
    ret = etcd_state.member_present("pg9", [PEER3], endpoints=[PG1])
    assert ret["result"] is False
    assert "set replace=True" in ret["comment"]
    assert len(cluster.members) == 3


def test_member_present_refuses_to_empty_the_cluster():
    fake = FakeCluster(FakeMember(11, "pg1", [PEER1], [PG1]))
    with patch.object(etcd_mod, "_client", fake.client):
        ret = etcd_state.member_present("pg1", ["http://10.77.0.21:2380"], endpoints=[PG1])
    assert ret["result"] is False
    assert len(fake.members) == 1


def test_member_present_reports_failed_add_after_removal(cluster):
    def boom(*args, **kwargs):
        raise CommandExecutionError("etcd member add failed: UNAVAILABLE: x")

    with patch.dict(etcd_state.__salt__, {"pgsalt_etcd.add": boom}):
        ret = etcd_state.member_present("pg3", "http://10.77.0.23:2380", endpoints=[PG1])
    assert ret["result"] is False
    assert ret["changes"] == {
        "old": [{"id": 13, "name": "pg3", "peer_urls": [PEER3], "client_urls": [PG3]}],
        "new": None,
    }


def test_member_present_passes_tls_options():
    salt = {
        "pgsalt_etcd.reachable": MagicMock(return_value=True),
        "pgsalt_etcd.members": MagicMock(
            return_value=[{"id": 1, "name": "pg1", "peer_urls": [PEER1], "client_urls": [PG1]}]
        ),
    }
    with patch.dict(etcd_state.__salt__, salt):
        ret = etcd_state.member_present(
            "pg1", [PEER1], endpoints=[PG1], ca_cert="/ca", cert_cert="/c", cert_key="/k"
        )
    assert ret["result"] is True
    salt["pgsalt_etcd.members"].assert_called_once_with(
        endpoints=[PG1], ca_cert="/ca", cert_cert="/c", cert_key="/k"
    )


def test_member_present_error_is_reported():
    salt = {"pgsalt_etcd.reachable": MagicMock(side_effect=CommandExecutionError("bad TLS"))}
    with patch.dict(etcd_state.__salt__, salt):
        ret = etcd_state.member_present("pg1", [PEER1])
    assert ret["result"] is False and ret["comment"] == "bad TLS"


# --- state: member_absent ---------------------------------------------------


def test_member_absent_test_mode(cluster, test_mode):
    ret = etcd_state.member_absent("pg3", endpoints=[PG1])
    assert ret["result"] is None
    assert ret["changes"] == {
        "old": {"id": 13, "name": "pg3", "peer_urls": [PEER3], "client_urls": [PG3]},
        "new": None,
    }
    assert len(cluster.members) == 3


def test_member_absent(cluster):
    ret = etcd_state.member_absent("pg3", endpoints=[PG1])
    assert ret["result"] is True
    assert ret["changes"]["old"]["id"] == 13 and ret["changes"]["new"] is None
    assert [m.name for m in cluster.members] == ["pg1", "pg2"]


@pytest.mark.parametrize("mode", ["test", "real"])
def test_member_absent_already_gone(cluster, mode):
    with patch.dict(etcd_state.__opts__, {"test": mode == "test"}):
        ret = etcd_state.member_absent("pg9", endpoints=[PG1])
    assert ret == {
        "name": "pg9",
        "result": True,
        "changes": {},
        "comment": "etcd member pg9 is absent",
    }


def test_member_absent_unreachable():
    fake = FakeCluster(up=set())
    with patch.object(etcd_mod, "_client", fake.client):
        ret = etcd_state.member_absent("pg3", endpoints=[PG1])
    assert ret["result"] is False
    assert "cannot check etcd membership" in ret["comment"]


def test_error_text_recovers_server_reason():
    """etcd3 replaces grpc errors with detail-less ones; the reason must survive."""
    try:
        try:
            raise FakeRpcError(grpc.StatusCode.UNAVAILABLE, "etcdserver: unhealthy cluster")
        except grpc.RpcError:
            raise etcd_mod.etcd3.exceptions.ConnectionFailedError() from None
    except etcd_mod.etcd3.exceptions.Etcd3Exception as exc:
        text = etcd_mod._error_text(exc)
    assert text == "UNAVAILABLE: etcdserver: unhealthy cluster"


@pytest.mark.parametrize("test", [True, False])
def test_initial_state_file_bootstraps_new_when_no_cluster_answers(tmp_path, test):
    path = tmp_path / "etcd-initial-state"
    decide = MagicMock(return_value="new")
    with patch.dict(etcd_state.__salt__, {"pgsalt_etcd.initial_state": decide}), \
            patch.dict(etcd_state.__opts__, {"test": test}):
        ret = etcd_state.initial_state_file(str(path), member="pg1", data_dir=str(tmp_path))
    assert ret["changes"] == {"old": None, "new": "new"}
    assert ret["result"] is (None if test else True)
    assert path.exists() is not test
    if not test:
        assert 'ETCD_INITIAL_CLUSTER_STATE="new"' in path.read_text()


def test_initial_state_file_is_left_alone_once_etcd_has_data(tmp_path):
    path = tmp_path / "etcd-initial-state"
    path.write_text('ETCD_INITIAL_CLUSTER_STATE="new"\n')
    (tmp_path / "member").mkdir()
    decide = MagicMock(return_value="existing")
    with patch.dict(etcd_state.__salt__, {"pgsalt_etcd.initial_state": decide}):
        ret = etcd_state.initial_state_file(str(path), member="pg1", data_dir=str(tmp_path))
    assert ret["result"] is True and ret["changes"] == {}
    decide.assert_not_called()
    assert "new" in path.read_text()
