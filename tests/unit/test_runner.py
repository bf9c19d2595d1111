"""Unit tests of _runners/pgsalt.py (``salt-run pgsalt.validate``).

The master's pillar (``salt.pillar.get_pillar``), its file server (``salt.fileclient.FSClient``)
and its key store (``salt.key.get_key``) are patched where the runner uses them; the
defaults it reads are the repository's real defaults.yaml files, and the validation is the
real _utils/pgsalt_model.py and, for a CA of the operator's own, _utils/pgsalt_pki.py.
"""

import contextlib
from unittest.mock import MagicMock, patch

import loaders
import pgsalt_model
import pgsalt_pki
import pytest

pytestmark = pytest.mark.unit

runner = loaders.load("pgsalt_runner_under_test", "_runners/pgsalt.py")

MASTER_ID = "bedmaster_master"


@pytest.fixture
def context():
    return {}


@pytest.fixture
def utils():
    utils = {**loaders.model_utils(), **loaders.pki_utils()}
    # spies that still validate for real
    utils["pgsalt_model.plan"] = MagicMock(wraps=pgsalt_model.plan)
    utils["pgsalt_pki.own_ca_errors"] = MagicMock(wraps=pgsalt_pki.own_ca_errors)
    return utils


@pytest.fixture
def configure_loader_modules(context, utils):
    opts = {"id": MASTER_ID, "file_roots": {"base": [str(loaders.ROOT / "salt")]}}
    return {runner: {"__opts__": opts, "__context__": context, "__utils__": utils}}


class Master:
    """What the runner reads on the master, patched in: pillar, file server, minion keys."""

    def __init__(self, pillar, minions=loaders.KNOWN_MINIONS, missing=()):
        self.pillar = pillar
        self.get_pillar = MagicMock(name="get_pillar")
        self.get_pillar.return_value.compile_pillar.side_effect = lambda: self.pillar
        self.client = MagicMock(name="FSClient()")
        self.client.cache_file.side_effect = self._cache_file
        self.fsclient = MagicMock(name="FSClient", return_value=self.client)
        self.get_key = MagicMock(name="get_key")
        self.get_key.return_value.list_keys.return_value = {
            "minions": list(minions), "minions_pre": ["pg7"], "minions_rejected": []
        }
        self.missing = set(missing)

    def _cache_file(self, url, saltenv):
        # salt://COMP/defaults.yaml -> the repository's own file
        assert url.startswith("salt://")
        relative = url[len("salt://"):]
        if relative.split("/")[0] in self.missing:
            return False
        return str(loaders.ROOT / "salt" / relative)

    @contextlib.contextmanager
    def patched(self):
        with (
            patch.object(runner.salt.pillar, "get_pillar", self.get_pillar),
            patch.object(runner.salt.fileclient, "FSClient", self.fsclient),
            patch.object(runner.salt.key, "get_key", self.get_key),
        ):
            yield self


def shipped_pillar(tmp_path):
    """The shipped pillar, bookworm's own CA (its files on the bed's master) made in TMP_PATH."""
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"]["bookworm"]["tls"]["own_ca"] = loaders.own_ca(tmp_path)
    return pillar


def test_validate_shipped_pillar(context, utils, tmp_path):
    pillar = shipped_pillar(tmp_path)
    master = Master(pillar)
    with master.patched():
        for name in loaders.cluster_names():
            assert runner.validate(cluster=name) == [], name
        assert runner.validate(cluster="second") == []
    assert "retcode" not in context
    # the master's own pillar, for its own id
    args, kwargs = master.get_pillar.call_args
    assert args[0] is runner.__opts__
    assert args[2] == MASTER_ID
    assert kwargs.get("saltenv", "base") == "base"
    # the defaults are every component's real defaults.yaml, the keys the accepted ones
    clusters, name, defaults, known = utils["pgsalt_model.plan"].call_args.args
    assert clusters == pillar["pgsalt"]["clusters"]
    assert name == "second"
    assert defaults == loaders.defaults()
    assert sorted(known) == sorted(loaders.KNOWN_MINIONS)
    urls = [c.args[0] for c in master.client.cache_file.call_args_list]
    expected = sorted(f"salt://{comp}/defaults.yaml" for comp in loaders.COMPONENTS)
    assert sorted(set(urls)) == expected
    assert master.client.destroy.call_count == master.fsclient.call_count
    # the plan's own CA is checked on the master, where its files are
    checked = [c.args[0]["tls"]["own_ca"] for c in utils["pgsalt_pki.own_ca_errors"].call_args_list]
    own_ca = pillar["pgsalt"]["clusters"]["bookworm"]["tls"]["own_ca"]
    assert dict(own_ca, cluster="bookworm") in checked


def test_validate_other_saltenv():
    master = Master(loaders.shipped_pillar())
    with master.patched():
        assert runner.validate(cluster="demo", saltenv="staging") == []
    assert master.get_pillar.call_args.kwargs["saltenv"] == "staging"
    assert {c.args[1] for c in master.client.cache_file.call_args_list} == {"staging"}


def test_validate_broken_pillar_sets_retcode_and_names_keys(context, utils):
    pillar = loaders.shipped_pillar()
    demo = pillar["pgsalt"]["clusters"]["demo"]
    demo["members"]["pg2"]["roles"] = ["dcs", "db", "balancer", "dancer"]
    demo["patroni"]["timing"] = "turbo"
    demo["users"]["replication"]["password"] = "tiny-secret"
    demo["pgbouncer"] = {"pool_mode": "sometimes"}
    master = Master(pillar)
    with master.patched():
        errors = runner.validate(cluster="demo")
    assert context["retcode"] == 1
    text = "\n".join(errors)
    assert "pgsalt:clusters:demo:members:pg2:roles: unknown role 'dancer'" in text
    assert "pgsalt:clusters:demo:patroni:timing: 'turbo' is not a profile" in text
    assert "pgsalt:clusters:demo:users:replication:password: shorter than" in text
    assert "pgsalt:clusters:demo:pgbouncer:pool_mode: 'sometimes'" in text
    assert "tiny-secret" not in text
    # a refused pillar: no file of a CA is read
    utils["pgsalt_pki.own_ca_errors"].assert_not_called()


def test_validate_checks_the_files_of_an_own_ca(context, tmp_path):
    pillar = shipped_pillar(tmp_path)
    (tmp_path / "ca.crt").unlink()
    with Master(pillar).patched():
        errors = runner.validate(cluster="bookworm")
    assert context["retcode"] == 1
    assert errors == [f"pgsalt:clusters:bookworm:tls:own_ca:cert: {tmp_path}/ca.crt is missing "
                      "or unreadable; expected a CA certificate and its key on the Salt master"]


def test_validate_unknown_key_is_found_with_the_real_defaults(context):
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"]["demo"]["haproxy"] = {"rw_prot": 5000}
    with Master(pillar).patched():
        errors = runner.validate(cluster="demo")
    assert context["retcode"] == 1
    assert [e for e in errors if e.startswith("pgsalt:clusters:demo:haproxy:rw_prot: unknown key")]


def test_validate_member_without_accepted_key(context):
    master = Master(loaders.shipped_pillar(), minions=["pg1", "pg2", "pg3", "pg4"])
    with master.patched():
        assert runner.validate(cluster="demo") == []
        errors = runner.validate(cluster="second")
    assert context["retcode"] == 1
    assert len(errors) == 1
    assert errors[0].startswith("pgsalt:clusters:second:members:pg5: not a known minion")
    # pending keys do not count
    assert "pg7" not in errors[0]


@pytest.mark.parametrize(
    ("pillar", "cluster", "expected"),
    [
        ({}, "demo", "pgsalt:clusters: missing or empty"),
        ({"pgsalt": {"clusters": None}}, None, "pgsalt:clusters: missing or empty"),
        ("shipped", None, "pgsalt:clusters: {count} clusters ({names}) and no cluster name"),
        ("shipped", "third", "pgsalt:clusters:third: no such cluster (accepted: {names})"),
    ],
)
def test_validate_which_cluster(context, pillar, cluster, expected):
    if pillar == "shipped":
        pillar = loaders.shipped_pillar()
        names = loaders.cluster_names()
        expected = expected.format(count=len(names), names=", ".join(names))
    with Master(pillar).patched():
        errors = runner.validate(cluster=cluster)
    assert context["retcode"] == 1
    assert len(errors) == 1
    assert errors[0].startswith(expected)


def test_defaults_missing_from_file_roots_is_an_error_and_closes_the_client():
    master = Master(loaders.shipped_pillar(), missing={"pgbouncer"})
    with master.patched(), pytest.raises(FileNotFoundError) as excinfo:
        runner.validate(cluster="demo")
    assert "salt://pgbouncer/defaults.yaml" in str(excinfo.value)
    master.client.destroy.assert_called_once_with()


def test_defaults_reads_the_real_files():
    master = Master(loaders.shipped_pillar())
    with master.patched():
        defaults = runner._defaults("base")
    assert set(defaults) == set(loaders.COMPONENTS)
    assert defaults["patroni"]["patroni"]["port"] == 8008
    assert defaults["postgresql"]["release"]["Debian-12"]["postgresql"]["version"] == 15
    master.fsclient.assert_called_once_with(runner.__opts__)
    master.client.destroy.assert_called_once_with()
