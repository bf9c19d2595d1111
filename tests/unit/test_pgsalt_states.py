"""Unit tests of _states/pgsalt.py: packages whose service must not start on install, and
tools installed into a venv.

``pkg.*``, ``service.*``, ``cmd.run_all`` and ``pip.*`` are faked by tiny package managers
that record every call, so that what ran, and in which order, can be checked.
"""

import importlib.metadata
import pathlib
from unittest.mock import patch

import loaders
import pytest
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

statemod = loaders.load("pgsalt_statemod_under_test", "_states/pgsalt.py")

MUTATING = ("pkg.install", "service.mask", "service.unmask")


class FakeHost:
    """Installed packages, a masked flag per unit, and the calls that reached them."""

    def __init__(self, installed=None, versions=None, fail=(), raises=None):
        self.installed = dict(installed or {})
        self.versions = versions or {}
        self.fail = set(fail)  # packages pkg.install "installs" without effect
        self.raises = raises
        self.masked = set()
        self.calls = []

    def version(self, name):
        self.calls.append(("pkg.version", name))
        return self.installed.get(name, "")

    def install(self, pkgs, **kwargs):
        self.calls.append(("pkg.install", tuple(pkgs), kwargs))
        # the units must be masked for the whole install
        assert self.masked, "pkg.install ran with the service unmasked"
        if self.raises:
            raise self.raises
        changes = {}
        for name in pkgs:
            if name in self.fail:
                continue
            self.installed[name] = self.versions.get(name, "1.0-1")
            changes[name] = {"old": "", "new": self.installed[name]}
        return changes

    def mask(self, name):
        self.calls.append(("service.mask", name))
        self.masked.add(name)
        return True

    def unmask(self, name):
        self.calls.append(("service.unmask", name))
        self.masked.discard(name)
        return True

    def salt(self):
        return {
            "pkg.version": self.version,
            "pkg.install": self.install,
            "service.mask": self.mask,
            "service.unmask": self.unmask,
        }

    def mutating_calls(self):
        return [call for call in self.calls if call[0] in MUTATING]


@pytest.fixture
def test_mode():
    return False


@pytest.fixture
def host():
    return FakeHost(versions={"etcd-server": "3.5.16-4", "etcd-client": "3.5.16-4"})


@pytest.fixture
def configure_loader_modules(host, test_mode):
    return {statemod: {"__salt__": host.salt(), "__opts__": {"test": test_mode}}}


def _run(pkgs=("etcd-server",), service="etcd"):
    return statemod.installed_unstarted("etcd-package-installed", list(pkgs), service)


@pytest.mark.parametrize("test_mode", [True])
def test_test_mode_predicts_and_changes_nothing(host, test_mode):
    host.installed["etcd-client"] = "3.5.16-4"
    ret = _run(["etcd-server", "etcd-client"])
    assert ret["name"] == "etcd-package-installed"
    assert ret["result"] is None
    assert ret["changes"] == {"old": {"etcd-server": None}, "new": {"etcd-server": "installed"}}
    assert "etcd-server" in ret["comment"]
    assert "etcd" in ret["comment"]
    assert host.mutating_calls() == []
    assert host.masked == set()


def test_installs_with_the_unit_masked_then_unmasks(host):
    ret = _run(["etcd-server", "etcd-client"])
    assert ret["result"] is True
    assert ret["changes"] == {
        "old": {"etcd-server": None, "etcd-client": None},
        "new": {"etcd-server": "3.5.16-4", "etcd-client": "3.5.16-4"},
    }
    assert host.mutating_calls() == [
        ("service.mask", "etcd"),
        ("pkg.install", ("etcd-server", "etcd-client"), {"install_recommends": False}),
        ("service.unmask", "etcd"),
    ]
    assert host.masked == set()
    assert "etcd" in ret["comment"]


def test_installs_only_what_is_missing(host):
    host.installed["etcd-client"] = "3.5.16-4"
    ret = _run(["etcd-server", "etcd-client"])
    assert ret["result"] is True
    assert ret["changes"] == {"old": {"etcd-server": None}, "new": {"etcd-server": "3.5.16-4"}}
    installs = [call for call in host.calls if call[0] == "pkg.install"]
    assert installs == [("pkg.install", ("etcd-server",), {"install_recommends": False})]


def test_already_installed_changes_nothing(host):
    host.installed.update({"etcd-server": "3.5.16-4", "etcd-client": "3.5.16-4"})
    ret = _run(["etcd-server", "etcd-client"])
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert host.mutating_calls() == []


def test_second_run_is_a_no_op(host):
    first = _run()
    assert first["changes"]
    host.calls.clear()
    second = _run()
    assert second["result"] is True
    assert second["changes"] == {}
    assert host.mutating_calls() == []


@pytest.mark.parametrize("test_mode", [True])
def test_already_installed_in_test_mode_is_true(host, test_mode):
    host.installed["etcd-server"] = "3.5.16-4"
    ret = _run()
    assert ret["result"] is True
    assert ret["changes"] == {}


def test_install_that_raises_still_unmasks(host):
    host.raises = CommandExecutionError("E: Unable to locate package etcd-server")
    try:
        ret = _run()
    except CommandExecutionError:
        pass  # Salt turns an exception of a state into result False
    else:
        assert ret["result"] is False
        assert ret["changes"] == {}
    assert host.calls[-1] == ("service.unmask", "etcd")
    assert host.masked == set()


def test_install_that_installs_nothing_fails(host):
    host.fail = {"etcd-client"}
    ret = _run(["etcd-server", "etcd-client"])
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "etcd-client" in ret["comment"]
    assert ("service.unmask", "etcd") in host.calls
    assert host.masked == set()


# --------------------------------------------------------------------------
# venv_installed
# --------------------------------------------------------------------------

REQUIREMENT = "patroni[etcd3,psycopg3]==4.1.5"


class FakeVenvs:
    """pip in venvs on a real (temporary) directory: bin/python marks a venv."""

    def __init__(self, installed=None, create_rc=0, pip_fails=False):
        self.installed = dict(installed or {})  # venv path -> {project: version}
        self.create_rc = create_rc
        self.pip_fails = pip_fails
        self.calls = []

    def run_all(self, cmd, **kwargs):
        self.calls.append(("cmd.run_all", tuple(cmd), kwargs))
        if self.create_rc == 0:
            path = cmd[-1]
            (pathlib.Path(path) / "bin").mkdir(parents=True, exist_ok=True)
            (pathlib.Path(path) / "bin" / "python").touch()
            self.installed.setdefault(path, {"pip": "25.1"})
            return {"retcode": 0, "stdout": "", "stderr": ""}
        return {"retcode": 1, "stdout": "", "stderr": "ensurepip is not available"}

    def pip_list(self, prefix=None, bin_env=None, **kwargs):
        self.calls.append(("pip.list", prefix, bin_env))
        listed = self.installed.get(bin_env, {})
        return {k: v for k, v in listed.items() if not prefix or k.lower().startswith(prefix)}

    def pip_install(self, pkgs=None, requirements=None, bin_env=None, **kwargs):
        # as Salt's pip.install: a string of packages is split at commas
        if isinstance(pkgs, str):
            pkgs = [p.strip() for p in pkgs.split(",")]
        self.calls.append(("pip.install", tuple(pkgs or ()), bin_env))
        if self.pip_fails:
            return {"retcode": 1, "stdout": "", "stderr": "No matching distribution found"}
        for spec in pkgs or ():
            if spec.count("[") != spec.count("]"):
                return {"retcode": 1, "stdout": "", "stderr": f"Invalid requirement: {spec!r}"}
        for spec in pkgs or ():
            project, _, version = spec.partition("==")
            # pip lists the project's own spelling
            name = "Patroni" if project.startswith("patroni") else project
            self.installed.setdefault(bin_env, {})[name] = version
        return {"retcode": 0, "stdout": "Successfully installed", "stderr": ""}

    def salt(self):
        return {"cmd.run_all": self.run_all, "pip.list": self.pip_list,
                "pip.install": self.pip_install}

    def mutating(self):
        return [call for call in self.calls if call[0] in ("cmd.run_all", "pip.install")]


def _venv(tmp_path):
    return str(tmp_path / "opt" / "patroni")


def _make_venv(path, venvs, version):
    (pathlib.Path(path) / "bin").mkdir(parents=True)
    (pathlib.Path(path) / "bin" / "python").touch()
    venvs.installed[path] = {"Patroni": version, "psycopg": "3.2.9"}


@pytest.fixture
def venvs():
    return FakeVenvs()


def _venv_state(venvs, test_mode=False):
    return patch.multiple(statemod, create=True, __salt__=venvs.salt(),
                          __opts__={"test": test_mode})


def test_venv_fresh_install(tmp_path, venvs):
    path = _venv(tmp_path)
    with _venv_state(venvs):
        ret = statemod.venv_installed(path, REQUIREMENT)
    assert ret["result"] is True
    assert ret["changes"] == {"old": None, "new": "4.1.5"}
    assert venvs.mutating() == [
        ("cmd.run_all", ("python3", "-m", "venv", path), {"python_shell": False}),
        ("pip.install", (REQUIREMENT,), path),
    ]


def test_venv_at_the_version_changes_nothing(tmp_path, venvs):
    path = _venv(tmp_path)
    _make_venv(path, venvs, "4.1.5")
    with _venv_state(venvs):
        ret = statemod.venv_installed(path, REQUIREMENT)
    assert ret["result"] is True
    assert ret["changes"] == {}
    assert venvs.mutating() == []


def test_venv_upgrade_keeps_the_venv(tmp_path, venvs):
    path = _venv(tmp_path)
    _make_venv(path, venvs, "4.0.4")
    with _venv_state(venvs):
        ret = statemod.venv_installed(path, REQUIREMENT)
    assert ret["result"] is True
    assert ret["changes"] == {"old": "4.0.4", "new": "4.1.5"}
    assert venvs.mutating() == [("pip.install", (REQUIREMENT,), path)]


def test_venv_test_mode(tmp_path, venvs):
    path = _venv(tmp_path)
    with _venv_state(venvs, test_mode=True):
        ret = statemod.venv_installed(path, REQUIREMENT)
    assert ret["result"] is None
    assert ret["changes"] == {"old": None, "new": "4.1.5"}
    assert venvs.mutating() == []
    assert not pathlib.Path(path).exists()


def test_venv_that_cannot_be_made(tmp_path):
    venvs = FakeVenvs(create_rc=1)
    with _venv_state(venvs):
        ret = statemod.venv_installed(_venv(tmp_path), REQUIREMENT)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "ensurepip is not available" in ret["comment"]
    assert [call[0] for call in venvs.mutating()] == ["cmd.run_all"]


def test_venv_pip_failure(tmp_path):
    venvs = FakeVenvs(pip_fails=True)
    with _venv_state(venvs):
        ret = statemod.venv_installed(_venv(tmp_path), REQUIREMENT)
    assert ret["result"] is False
    assert ret["changes"] == {}
    assert "No matching distribution found" in ret["comment"]


class FakeDistributions:
    """importlib.metadata over a dict {project: (version, [requires lines])}; pip.install
    "installs" what INSTALLS maps a requirement to."""

    PackageNotFoundError = importlib.metadata.PackageNotFoundError

    def __init__(self, dists, installs=None):
        self.dists, self.installs, self.calls = dict(dists), installs or {}, []

    def version(self, project):
        if project not in self.dists:
            raise self.PackageNotFoundError(project)
        return self.dists[project][0]

    def requires(self, project):
        return self.dists[project][1]

    def pip_install(self, pkgs, bin_env, extra_args):
        self.calls.append((tuple(pkgs), bin_env, tuple(extra_args)))
        for req in pkgs:
            self.dists.update(self.installs.get(req, {}))
        return {"retcode": 0, "stderr": ""}


PSYCOPG = ("3.3.9", ['psycopg-binary==3.3.9; implementation_name != "pypy" and '
                     'extra == "binary"', 'psycopg-c==3.3.9; extra == "c"'])
WANTED = ["etcd3==0.12.0", "psycopg[binary]==3.3.9"]
PIP = "/opt/salt/bin/pip"


def _python(dists, test_mode=False):
    with patch.object(statemod.importlib, "metadata", dists), \
            patch.dict(statemod.__dict__, {"__salt__": {"pip.install": dists.pip_install},
                                           "__opts__": {"test": test_mode}}):
        return statemod.python_installed("pgsalt-python-modules-installed", WANTED, PIP)


def test_python_modules_at_their_versions_change_nothing():
    dists = FakeDistributions({"etcd3": ("0.12.0", []), "psycopg": PSYCOPG,
                               "psycopg-binary": ("3.3.9", [])})
    ret = _python(dists)
    assert (ret["result"], ret["changes"], dists.calls) == (True, {}, [])


@pytest.mark.parametrize("test_mode", [True, False])
def test_python_modules_missing_an_extra_or_a_version_are_installed(test_mode):
    # psycopg without its binary extra, etcd3 at another version
    dists = FakeDistributions(
        {"etcd3": ("0.11.1", []), "psycopg": PSYCOPG},
        installs={"etcd3==0.12.0": {"etcd3": ("0.12.0", [])},
                  "psycopg[binary]==3.3.9": {"psycopg-binary": ("3.3.9", [])}})
    ret = _python(dists, test_mode)
    assert ret["changes"] == {"old": {"etcd3==0.12.0": "0.11.1", "psycopg[binary]==3.3.9": "3.3.9"},
                              "new": {"etcd3==0.12.0": "0.12.0", "psycopg[binary]==3.3.9": "3.3.9"}}
    if test_mode:
        assert (ret["result"], dists.calls) == (None, [])
    else:
        assert ret["result"] is True
        assert dists.calls == [(tuple(WANTED), PIP, ("--no-compile",))]
        assert _python(dists)["changes"] == {}  # and the next run finds them


def test_python_modules_pip_could_not_install_fail():
    dists = FakeDistributions({"psycopg": PSYCOPG, "psycopg-binary": ("3.3.9", [])})
    ret = _python(dists)
    assert (ret["result"], ret["changes"]) == (False, {})
    assert "etcd3==0.12.0 not installed" in ret["comment"]
