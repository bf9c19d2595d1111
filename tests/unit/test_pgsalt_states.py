"""Unit tests of _states/pgsalt.py: installing packages whose service must not start on install.

``pkg.version``, ``pkg.install``, ``service.mask`` and ``service.unmask`` are faked by a tiny
package manager that records every call, so that the order of the calls can be checked.
"""

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
    assert "etcd-server" not in ret["comment"].replace("etcd-client", "")
    assert ("service.unmask", "etcd") in host.calls
    assert host.masked == set()
