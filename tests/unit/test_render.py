"""Render the formula's SLS files, orchestrations and config templates, and check the output.

Rendering goes through Salt's own pipeline, not an imitation of it:

* SLS and orchestration files: ``salt.loader.render`` (Salt's real ``jinja|yaml`` renderers)
  and ``salt.template.compile_template``, with a minion config whose ``file_client`` is
  ``local`` and whose ``file_roots`` are ``salt/`` and the repository root, as on the test bed's
  master; so ``{% from 'pgsalt/map.jinja' import ... %}`` and ``import_yaml`` work as on a
  minion. ``salt`` in the templates holds the real execution module _modules/pgsalt.py
  (over the real pgsalt_model, the shipped pillar and a faked mine).
* Config templates (``salt/*/files/*.jinja``): ``salt.utils.templates.JINJA``, the function
  ``file.managed`` renders a ``template: jinja`` source with, so Salt's own ``yaml`` and
  ``json`` filters are used; the context is the one the rendered SLS passes.

The rendered states of a member are checked the way Salt would take them: every SLS a
highstate includes renders to a mapping, Salt's high data check (``salt.state._verify_high``)
finds nothing, no ID is declared twice, and every requisite names an existing ID of the
right state module.
"""

import configparser
import contextlib
import copy
import importlib
import inspect
import json
import re
import shlex
from unittest.mock import patch

import loaders
import pytest
import salt.config
import salt.fileclient
import salt.loader
import salt.state
import salt.template
import salt.utils.templates
import yaml

pytestmark = pytest.mark.unit

execmod = loaders.load("pgsalt_execmod_for_render", "_modules/pgsalt.py")
monitoring = loaders.load("pgsalt_monitoring_for_render", "_modules/pgsalt_monitoring.py")

ROOT = loaders.ROOT
FILE_ROOTS = [ROOT / "salt", ROOT]
REQUISITE_KEYS = salt.state.STATE_REQUISITE_KEYWORDS | salt.state.STATE_REQUISITE_IN_KEYWORDS
# salt/states/ files whose virtual name differs from the file's
BUILTIN_STATE_FILES = {"pip": "pip_state", "salt": "saltmod"}
SLS_FILES = sorted(
    str(path.relative_to(ROOT / "salt"))
    for path in (ROOT / "salt").rglob("*.sls")
    if path.name != "top.sls"
)
DEMO_APP_PASSWORD = "demo-app-password-W8fD3kQs"
AUTH_PASSWORD = "demo-pgbouncer-Ju5nB2eX"
VIP_PASSWORD = "Vq7-pX2k"
REST_API_PASSWORD = "demo-rest-api-Qx4mT7vLp2"
STATS_PASSWORD = "demo-haproxy-stats-Hn3wK8cZ"
CA = "/etc/pgsalt/tls/ca.crt"


def _sls_name(relpath):
    """salt/etcd/init.sls -> etcd, salt/etcd/config.sls -> etcd.config."""
    parts = relpath[: -len(".sls")].split("/")
    if parts[-1] == "init":
        parts.pop()
    return ".".join(parts)


def _plain(data):
    """Salt's OrderedDicts as plain data, for comparisons and messages."""
    return json.loads(json.dumps(data))


def _args(body):
    """One state's arguments (``- key: value`` items) as a dict, and its function."""
    (fun, items), = ((k, v) for k, v in body.items() if not k.startswith("__"))
    args = {}
    for item in items:
        if isinstance(item, dict):
            args.update(item)
    return fun, args


@pytest.fixture(scope="module")
def salt_opts(tmp_path_factory):
    # The repository root is a file root for orch/ alone; a root holding a link to it spares
    # the file server a walk through .venv and .git.
    repo_root = tmp_path_factory.mktemp("repo-root")
    (repo_root / "orch").symlink_to(ROOT / "orch", target_is_directory=True)
    opts = salt.config.minion_config(None)
    opts.update(
        file_client="local",
        cachedir=str(tmp_path_factory.mktemp("salt-cache")),
        file_roots={"base": [str(ROOT / "salt"), str(repo_root)]},
        pillar_roots={"base": []},
        renderer="jinja|yaml",
    )
    return opts


@pytest.fixture(scope="module")
def file_client(salt_opts):
    """One client of the local file server for all renders (making one takes ~0.1 s)."""
    client = salt.fileclient.get_file_client(salt_opts)
    yield client
    client.destroy()


class Minion:
    """Renders files as Salt would on minion ID (or on the master, for orchestrations)."""

    def __init__(self, opts, file_client, minion, osfinger, pillar, extra_salt):
        self.file_client = file_client
        self.globals = loaders.minion_globals(minion, osfinger, pillar)
        self.pillar = self.globals["__pillar__"]
        self.opts = dict(opts, id=minion, grains=self.globals["__grains__"], pillar=self.pillar)
        # the execution modules' functions, as Salt's loader publishes them
        functions = {
            f"{virtual}.{name}": func
            for virtual, module in (("pgsalt", execmod), ("pgsalt_monitoring", monitoring))
            for name, func in vars(module).items()
            if callable(func) and not name.startswith("_")
            and getattr(func, "__module__", None) == module.__name__
        }
        # the execution module calls its sibling as Salt's loader lets it
        self.globals["__salt__"].update(
            {k: f for k, f in functions.items() if k.startswith("pgsalt_monitoring.")})
        # a bare host: no issued certificate, no backup timer
        functions["file.file_exists"] = lambda path: False
        functions["service.status"] = lambda name: False
        functions.update(extra_salt or {})
        self.functions = functions
        self.renderers = None
        self.reload()

    def reload(self):
        """Salt's renderers, over the current ``functions``."""
        self.renderers = salt.loader.render(
            self.opts, self.functions, pillar=self.pillar, file_client=self.file_client
        )

    def cluster(self):
        return execmod.cluster(loaders.defaults())

    def sls(self, sls):
        """SLS (dotted name) rendered by jinja|yaml: a dict, {} when it renders to nothing."""
        data = salt.template.compile_template(
            str(_sls_path(sls)),
            self.renderers,
            self.opts["renderer"],
            self.opts["renderer_blacklist"],
            self.opts["renderer_whitelist"],
            saltenv="base",
            sls=sls,
        )
        return {} if data is None else data

    def highstate(self, *roots):
        """{sls: rendered} for ROOTS and every SLS they include, as Salt walks them."""
        rendered, todo = {}, list(roots)
        while todo:
            sls = todo.pop(0)
            if sls in rendered:
                continue
            rendered[sls] = self.sls(sls)
            include = rendered[sls].get("include") or []
            todo.extend(include)
        return rendered

    def file(self, source, context):
        """A salt:// template rendered as file.managed renders it (template: jinja)."""
        assert source.startswith("salt://")
        path = _existing_source(source)
        result = salt.utils.templates.JINJA(
            str(path),
            to_str=True,
            context=copy.deepcopy(_plain(context)),
            salt=self.functions,
            pillar=self.pillar,
            grains=self.opts["grains"],
            opts=self.opts,
            saltenv="base",
            fileclient=self.file_client,
        )
        assert result["result"], result.get("data")
        return result["data"]


def _sls_path(sls):
    """The file of SLS (dotted name) in the file roots, as Salt looks it up."""
    relative = sls.replace(".", "/")
    for root in FILE_ROOTS:
        for candidate in (root / f"{relative}.sls", root / relative / "init.sls"):
            if candidate.is_file():
                return candidate
    raise AssertionError(f"SLS {sls} is in no file root")


def _existing_source(source, directory=False):
    """The file (or, for file.recurse, the directory) salt://SOURCE names."""
    relative = source[len("salt://"):]
    for root in FILE_ROOTS:
        if (root / relative).is_dir() if directory else (root / relative).is_file():
            return root / relative
    raise AssertionError(f"{source} is in no file root")


@pytest.fixture
def render(salt_opts, file_client):
    """render(minion, osfinger, pillar=None) -> Minion, with the module's globals patched."""
    with contextlib.ExitStack() as stack:

        def make(minion="pg2", osfinger="Debian-13", pillar=None, extra_salt=None):
            stack.close()
            node = Minion(salt_opts, file_client, minion, osfinger, pillar, extra_salt)
            stack.enter_context(patch.multiple(execmod, create=True, **node.globals))
            return node

        yield make


def _high(rendered):
    """High data as Salt assembles it from the rendered SLS files; IDs declared twice fail."""
    high, where = {}, {}
    for sls, data in rendered.items():
        for id_, body in data.items():
            if id_ in ("include", "exclude", "extend"):
                continue
            assert id_ not in high, f"ID {id_} is declared in both {where[id_]} and {sls}"
            high[id_] = dict(body, __sls__=sls, __env__="base")
            where[id_] = sls
    return high


def _state_modules(body):
    return {key.split(".")[0] for key in body if not key.startswith("__")}


def _broken_requisites(high, sls_names):
    """Every requisite that names no existing ID of the state module it says."""
    broken = []
    for id_, body in high.items():
        _, args = _args(body)
        for key, targets in args.items():
            if key not in REQUISITE_KEYS:
                continue
            for target in targets:
                module, name = ("id", target) if isinstance(target, str) else next(
                    iter(target.items())
                )
                if module == "sls":
                    ok = name in sls_names
                elif module == "id":
                    ok = name in high
                else:
                    ok = name in high and module in _state_modules(high[name])
                if not ok:
                    broken.append(f"{id_}: {key}: {module}: {name}")
    return broken


def _custom_state_modules():
    """The formula's state modules (_states/*.py) by virtual name."""
    modules = {}
    for path in sorted((ROOT / "_states").glob("*.py")):
        module = loaders.load(f"{path.stem}_statemod_for_render", f"_states/{path.name}")
        modules[getattr(module, "__virtualname__", path.stem)] = module
    return modules


CUSTOM_STATES = _custom_state_modules()


def _state_function(fun):
    """The function behind FUN (``module.function``), or None; and whether it is the formula's."""
    module_name, name = fun.split(".", 1)
    if module_name in CUSTOM_STATES:
        module, custom = CUSTOM_STATES[module_name], True
    else:
        module_file = BUILTIN_STATE_FILES.get(module_name, module_name)
        module, custom = importlib.import_module(f"salt.states.{module_file}"), False
    aliases = {alias: real for real, alias in getattr(module, "__func_alias__", {}).items()}
    func = getattr(module, aliases.get(name, name), None)
    return (func if callable(func) else None), custom


def _bad_state_calls(high):
    """States whose function does not exist, or (the formula's) that it cannot take as given."""
    bad = []
    for id_, body in high.items():
        fun, args = _args(body)
        func, custom = _state_function(fun)
        if func is None:
            bad.append(f"{id_}: no state function {fun}")
            continue
        if not custom:
            continue
        params = inspect.signature(func).parameters
        given = {key for key in args if key not in salt.state.STATE_INTERNAL_KEYWORDS}
        given.add("name")  # Salt passes the ID when no name is given
        if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
            bad += [f"{id_}: {fun} takes no argument {key}" for key in given - set(params)]
        required = {
            key for key, p in params.items()
            if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        }
        bad += [f"{id_}: {fun} needs argument {key}" for key in required - given]
    return bad


def _check_high(rendered):
    high = _high(rendered)
    assert salt.state._verify_high(high) == []
    assert _broken_requisites(high, set(rendered)) == []
    assert _bad_state_calls(high) == []
    for body in high.values():
        fun, args = _args(body)
        if isinstance(args.get("source"), str) and args["source"].startswith("salt://"):
            _existing_source(args["source"], directory=fun == "file.recurse")
    return high


# --------------------------------------------------------------------------
# the formula's SLS files
# --------------------------------------------------------------------------


def test_top(render):
    assert _plain(render().sls("top")) == {"base": {"*": ["pgsalt"]}}


@pytest.mark.parametrize("relpath", SLS_FILES)
def test_every_sls_renders_to_states_of_its_component(render, relpath):
    component = relpath.split("/")[0]
    data = render().sls(_sls_name(relpath))
    assert isinstance(data, dict)
    assert data, f"{relpath} renders to nothing for pg2"
    include = data.pop("include", [])
    assert isinstance(include, list)
    assert all(isinstance(sls, str) for sls in include)
    for id_, body in data.items():
        assert id_.startswith(f"{component}-"), f"{relpath}: ID {id_}"
        assert isinstance(body, dict)
        (fun,) = _state_modules(body)
        assert fun


# every member: the formula's Python libraries, its packages in one transaction, self-healing
HOST = {"pgsalt", "pgsalt.python", "pgsalt.packages", "pgsalt.heal"}
# pgsalt.tls: every member has a certificate (TLS on by default)
ALL_ROLES = {
    "pgsalt", "pgsalt.python", "pgsalt.packages", "pgsalt.heal", "pgsalt.tls",
    "postgresql.createcluster",
    "etcd", "etcd.package", "etcd.config", "etcd.service", "etcd.auth",
    "postgresql", "postgresql.package", "postgresql.objects",
    "patroni", "patroni.package", "patroni.config", "patroni.service",
    "haproxy", "haproxy.package", "haproxy.config", "haproxy.service",
    "pgbouncer", "pgbouncer.package", "pgbouncer.config", "pgbouncer.service",
}
BACKUP = {"pgsalt.tls", "pgbackrest", "pgbackrest.package", "pgbackrest.config",
          "pgbackrest.service", "pgbackrest.schedule"}
# balancers of a cluster with a virtual IP (the demo)
VIP = {"keepalived", "keepalived.package", "keepalived.config", "keepalived.service"}
# members of a cluster with a monitor host (the demo's pg4): exporters everywhere, backup
# metrics where PostgreSQL runs, Prometheus, Alertmanager and the dashboards on the monitor
EXPORTERS = {"monitoring", "monitoring.exporters"}
MONITOR = EXPORTERS | {"monitoring.server", "monitoring.dashboards"}


@pytest.mark.parametrize(
    ("minion", "osfinger", "expected"),
    [
        ("pg2", "Debian-13", ALL_ROLES | BACKUP | VIP | EXPORTERS | {"monitoring.backup"}),
        ("pg2", "Debian-12", ALL_ROLES | BACKUP | VIP | EXPORTERS | {"monitoring.backup"}),
        # the demo's repository and monitor host
        ("pg4", "Debian-13", HOST | BACKUP | MONITOR),
        # db and balancer, using the demo cluster's etcd
        ("pg5", "Debian-13", {sls for sls in ALL_ROLES if not sls.startswith("etcd")} | BACKUP),
        ("pg5", "Debian-12", {sls for sls in ALL_ROLES if not sls.startswith("etcd")} | BACKUP),
        # the Debian 12 cluster, pg14 its repository and monitor host
        ("pg12", "Debian-12", ALL_ROLES | BACKUP | EXPORTERS | {"monitoring.backup"}),
        ("pg14", "Debian-12", HOST | BACKUP | MONITOR),
    ],
)
def test_highstate_of_a_member_is_consistent(render, minion, osfinger, expected):
    rendered = render(minion, osfinger).highstate("pgsalt")
    assert set(rendered) == expected
    high = _check_high(rendered)
    for id_ in high:
        component = high[id_]["__sls__"].split(".")[0]
        assert id_.startswith(f"{component}-")


def test_highstate_requisite_check_catches_a_dangling_requisite(render):
    """The checker itself: a requisite to a missing ID, or to the wrong module, is reported."""
    rendered = render().highstate("pgsalt")
    high = _high(rendered)
    body = high["haproxy-service-running"]
    body["service.running"] = body["service.running"] + [
        {"require": [{"pkg": "haproxy-config-file"}, {"file": "no-such-id"}, "nor-this"]}
    ]
    assert sorted(_broken_requisites(high, set(rendered))) == [
        "haproxy-service-running: require: file: no-such-id",
        "haproxy-service-running: require: id: nor-this",
        "haproxy-service-running: require: pkg: haproxy-config-file",
    ]


def test_state_call_check_catches_unknown_functions_and_arguments(render):
    """The checker itself: a missing function, an unknown or a missing argument is reported."""
    high = _high(render().highstate("pgsalt"))
    assert _bad_state_calls(high) == []
    ready = high["patroni-service-ready"]
    ready["pgsalt_patroni.ready"] = ready["pgsalt_patroni.ready"] + [{"timout": 5}]
    initial = high["etcd-config-initial-state"]
    initial["pgsalt_etcd.initial_state_file"] = [
        item for item in initial["pgsalt_etcd.initial_state_file"]
        if not (isinstance(item, dict) and "member" in item)
    ]
    high["haproxy-package-installed"]["pkg.instaled"] = high["haproxy-package-installed"].pop(
        "pkg.installed"
    )
    assert sorted(_bad_state_calls(high)) == [
        "etcd-config-initial-state: pgsalt_etcd.initial_state_file needs argument member",
        "haproxy-package-installed: no state function pkg.instaled",
        "patroni-service-ready: pgsalt_patroni.ready takes no argument timout",
    ]


@pytest.mark.parametrize("deployed", [False, True])
@pytest.mark.parametrize("minion", ["pg2", "pg4"])
def test_no_state_makes_salt_load_every_state_module(render, minion, deployed):
    """onlyif, unless and creates make Salt load every state module, once per run: 2-4 s in
    each orchestration step on the bed. What they checked is looked up while rendering."""
    exists = {"/etc/pgsalt/tls/issued/host.crt", "/etc/systemd/system/pgsalt-backup-diff.timer"}
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"]["demo"].setdefault("pgbackrest", {})["schedule"] = {"diff": None}
    node = render(minion, pillar=pillar,
                  extra_salt={"file.file_exists": lambda path: deployed and path in exists})
    rendered = node.highstate("pgsalt")
    rendered["pgbackrest.stanza"] = node.sls("pgbackrest.stanza")  # orch.deploy applies it
    high = _plain(_high(rendered))
    checks = {id_: sorted(set(args) & {"onlyif", "unless", "creates"})
              for id_, (_, args) in ((i, _args(b)) for i, b in high.items())}
    assert {id_: keys for id_, keys in checks.items() if keys} == {}
    _, cert = _args(high["pgsalt-tls-cert"])
    if deployed:
        assert cert["source"] == "/etc/pgsalt/tls/issued/host.crt"
    else:
        assert "source" not in cert and cert["create"] is False and cert["replace"] is False
    stopped = "pgbackrest-schedule-diff-timer-stopped"
    assert (stopped in high) == (deployed and minion == "pg4")


def _ids(rendered):
    return set(_high(rendered))


def test_highstate_states_per_release(render):
    d13 = _high(render("pg2", "Debian-13").highstate("pgsalt"))
    d12 = _high(render("pg2", "Debian-12").highstate("pgsalt"))
    for high in (d13, d12):
        assert {
            "etcd-service-running", "patroni-service-ready", "haproxy-service-running",
            "pgbouncer-service-running", "postgresql-objects-role-app",
            "postgresql-objects-role-pgbouncer_auth", "postgresql-objects-database-app",
            "postgresql-objects-extension-app-pg_stat_statements",
            "postgresql-objects-pgbouncer-auth-postgres", "pgsalt-python-modules-installed",
            "patroni-package-installed",
        } <= set(high)
    # PgBouncer < 1.19 (Debian 12) runs auth_query in each database it serves
    assert "postgresql-objects-pgbouncer-auth-app" in set(d12) - set(d13)
    # Patroni: the release's package on Debian 13, a pinned venv on Debian 12
    fun, args = _args(d13["patroni-package-installed"])
    assert (fun, args["pkgs"]) == ("pkg.installed", ["patroni", "python3-etcd"])
    installed = json.dumps(_plain(d12["patroni-package-installed"]))
    assert "/opt/patroni" in installed
    assert "patroni[etcd3,psycopg3]==4.1.5" in installed


def test_highstate_passes_no_password_outside_the_states_that_need_it(render):
    node = render()
    rendered = node.highstate("pgsalt")
    high = _plain(_high(rendered))
    holders = {id_ for id_, body in high.items() if DEMO_APP_PASSWORD in json.dumps(body)}
    assert holders == {"postgresql-objects-role-app"}
    holders = {id_ for id_, body in high.items() if AUTH_PASSWORD in json.dumps(body)}
    assert holders == {"postgresql-objects-role-pgbouncer_auth", "pgbouncer-config-auth-file"}
    holders = {id_ for id_, body in high.items() if VIP_PASSWORD in json.dumps(body)}
    assert holders == {"keepalived-config-file"}
    holders = {id_ for id_, body in high.items() if STATS_PASSWORD in json.dumps(body)}
    assert holders == {"haproxy-config-file"}
    holders = {id_ for id_, body in high.items() if REST_API_PASSWORD in json.dumps(body)}
    assert holders == {"patroni-config-file"}
    for id_ in ("patroni-config-file", "pgbouncer-config-auth-file", "keepalived-config-file",
                "haproxy-config-file"):
        _, args = _args(high[id_])
        assert args["show_changes"] is False


def test_python_modules_by_role(render):
    def pkgs(minion, pillar=None):
        rendered = render(minion, pillar=pillar).sls("pgsalt.python")
        fun, args = _args(rendered["pgsalt-python-modules-installed"])
        assert fun == "pgsalt.python_installed"
        assert args["bin_env"] == execmod.minion_pip()
        return args["pkgs"]

    assert pkgs("pg2") == ["etcd3==0.12.0", "psycopg[binary]==3.3.9"]
    assert pkgs("pg5") == ["etcd3==0.12.0", "psycopg[binary]==3.3.9"]
    # no SQL driver where no PostgreSQL runs
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"]["demo"]["members"]["pg3"]["roles"] = ["dcs", "balancer"]
    assert pkgs("pg3", pillar) == ["etcd3==0.12.0"]


def test_pip_runs_beside_apt_and_its_modules_load_once_it_is_done(render):
    """The states after pgsalt.packages use pip's libraries (etcd3 for the etcd states); the
    deploy on bare hosts (e2e) shows the order holds."""
    high = _plain(_high(render("pg2").highstate("pgsalt.prepare")))
    _, pip = _args(high["pgsalt-python-modules-installed"])
    _, apt = _args(high["pgsalt-packages-installed"])
    fun, loaded = _args(high["pgsalt-python-modules-loaded"])
    assert pip["parallel"] is True and "parallel" not in apt
    assert fun == "test.succeed_without_changes" and loaded["force_reload_modules"] is True
    assert loaded["onchanges"] == [{"pgsalt": "pgsalt-python-modules-installed"}]
    assert high["pgsalt-python-modules-loaded"]["__sls__"] == "pgsalt.packages"


def test_minion_in_no_cluster_gets_nothing(render):
    # 'include:' with no item would be {'include': None}, which Salt refuses ("Include
    # Declaration in SLS pgsalt is not formed as a list")
    data = render("pg9").sls("pgsalt")
    assert data.get("include", []) == []
    assert [key for key in data if key != "include"] == []


# --------------------------------------------------------------------------
# config files, rendered with the context the SLS passes
# --------------------------------------------------------------------------


def _managed(node, sls, id_):
    """(source, context, all args) of file.managed state ID_ of SLS."""
    fun, args = _args(node.sls(sls)[id_])
    assert fun == "file.managed"
    return args["source"], args.get("context", {}), args


@pytest.mark.parametrize("osfinger", ["Debian-13", "Debian-12"])
def test_patroni_config_file(render, osfinger):
    node = render("pg2", osfinger)
    source, context, args = _managed(node, "patroni.config", "patroni-config-file")
    text = node.file(source, context)
    assert text.startswith("# Managed by Salt")
    assert yaml.safe_load(text) == execmod.patroni_config(node.cluster())
    assert args["mode"] == "0600"
    assert (args["user"], args["group"]) == ("postgres", "postgres")
    patroni = "/usr/bin/patroni" if osfinger == "Debian-13" else "/opt/patroni/bin/patroni"
    validator = "/usr/local/sbin/pgsalt-patroni-validate"
    assert shlex.split(args["check_cmd"]) == [validator, patroni]
    script = _managed(node, "patroni.config", "patroni-config-validator")[2]
    assert (script["name"], script["mode"]) == (validator, "0755")
    assert _existing_source(script["source"]).name == "pgsalt-patroni-validate"
    # orch.deploy writes the file a run before Patroni's own step: a running member reloads
    # here, where the change is seen, and only there
    assert "patroni-config-reloaded" not in node.sls("patroni.config")
    node = render("pg2", osfinger, extra_salt={"service.status": lambda name: True})
    fun, reload = _args(node.sls("patroni.config")["patroni-config-reloaded"])
    assert (fun, reload["name"]) == ("cmd.run", "systemctl reload patroni")
    assert _requisites(reload["onchanges"]) == {("file", "patroni-config-file")}
    _, running = _args(node.sls("patroni.service")["patroni-service-running"])
    assert _requisites(running["watch"]) == {("file", "patroni-config-unit")}


def test_archive_command_is_installed_on_the_db_hosts(render):
    node = render("pg2")
    script = _managed(node, "pgbackrest.config", "pgbackrest-config-archive-push")[2]
    assert (script["name"], script["mode"]) == ("/usr/local/sbin/pgsalt-archive-push", "0755")
    assert _existing_source(script["source"]).name == "pgsalt-archive-push"
    command = execmod.patroni_config(node.cluster())["postgresql"]["parameters"]
    assert shlex.split(command["archive_command"])[0] == script["name"]
    assert "pgbackrest-config-archive-push" not in render("pg4").sls("pgbackrest.config")


def _unit(text):
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str
    parser.read_string(text)
    return parser


@pytest.mark.parametrize(
    ("osfinger", "patroni"),
    [("Debian-13", "/usr/bin/patroni"), ("Debian-12", "/opt/patroni/bin/patroni")],
)
def test_patroni_unit(render, osfinger, patroni):
    node = render("pg2", osfinger)
    source, context, _ = _managed(node, "patroni.config", "patroni-config-unit")
    unit = _unit(node.file(source, context))
    assert unit["Unit"]["Description"].endswith("cluster demo")
    service = unit["Service"]
    assert shlex.split(service["ExecStart"]) == [patroni, "/etc/patroni/config.yml"]
    assert (service["User"], service["Group"]) == ("postgres", "postgres")
    # systemd must leave PostgreSQL's shutdown to Patroni
    assert service["KillMode"] == "process"
    assert unit["Install"]["WantedBy"] == "multi-user.target"


def _haproxy_sections(text):
    sections, current = {}, None
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            current = line.strip()
            sections[current] = []
        else:
            sections[current].append(line.split())
    return sections


def _directive(lines, *words):
    return [line for line in lines if line[: len(words)] == list(words)]


def _insecure_lab(name="demo"):
    """The shipped pillar with cluster NAME's TLS off, as a test cluster may have it."""
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"][name].update(insecure_lab=True, tls={"enabled": False})
    return pillar


def test_haproxy_config(render):
    node = render()
    source, context, args = _managed(node, "haproxy.config", "haproxy-config-file")
    sections = _haproxy_sections(node.file(source, context))
    assert args["check_cmd"].startswith("haproxy -c")
    # the stats password is in it
    assert (args["mode"], args["group"], args["show_changes"]) == ("0640", "haproxy", False)

    rw = sections["frontend postgres_rw"]
    assert _directive(rw, "bind") == [["bind", "*:5000"]]
    assert _directive(rw, "default_backend") == [["default_backend", "postgres_primary"]]
    assert not _directive(rw, "use_backend")

    ro = sections["frontend postgres_ro"]
    assert _directive(ro, "bind") == [["bind", "*:5001"]]
    (use,) = _directive(ro, "use_backend")
    assert use[1] == "postgres_replicas"
    assert _directive(ro, "default_backend") == [["default_backend", "postgres_primary"]]

    primary = sections["backend postgres_primary"]
    assert _directive(primary, "option", "httpchk") == [
        ["option", "httpchk", "OPTIONS", "/primary"]
    ]
    replicas = sections["backend postgres_replicas"]
    (check,) = _directive(replicas, "option", "httpchk")
    assert check[3].startswith("/replica")
    for backend in (primary, replicas):
        assert _directive(backend, "http-check", "expect") == [
            ["http-check", "expect", "status", "200"]
        ]
        # Patroni's REST API speaks TLS: the checks verify its certificate against the CA
        assert _directive(backend, "server") == [
            ["server", mid, f"{addr}:5432", "check", "port", "8008",
             "check-ssl", "verify", "required", "ca-file", CA]
            for mid, addr in sorted(loaders.DB.items())
        ]
    stats = sections["listen stats"]
    assert _directive(stats, "bind") == [["bind", "10.77.0.12:7000"]]
    assert _directive(stats, "stats", "auth") == [["stats", "auth", f"stats:{STATS_PASSWORD}"]]
    # what Keepalived's track script asks
    assert _directive(stats, "monitor-uri") == [["monitor-uri", "/alive"]]
    assert sections["defaults"][0] == ["mode", "tcp"]


def test_haproxy_config_with_tls_off(render):
    node = render(pillar=_insecure_lab())
    source, context, _ = _managed(node, "haproxy.config", "haproxy-config-file")
    sections = _haproxy_sections(node.file(source, context))
    for backend in ("backend postgres_primary", "backend postgres_replicas"):
        assert _directive(sections[backend], "server") == [
            ["server", mid, f"{addr}:5432", "check", "port", "8008"]
            for mid, addr in sorted(loaders.DB.items())
        ]
    # the stats page asks for its password all the same
    assert _directive(sections["listen stats"], "stats", "auth") == [
        ["stats", "auth", f"stats:{STATS_PASSWORD}"]]


def _keepalived_blocks(text):
    """keepalived.conf as nested lists: [words, children] per statement, quotes kept whole."""
    root, stack = [], []
    current = root
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        words = shlex.split(line)
        if words == ["}"]:
            current = stack.pop()
        elif words[-1] == "{":
            block = [words[:-1], []]
            current.append(block)
            stack.append(current)
            current = block[1]
        else:
            current.append([words, []])
    assert not stack, "unbalanced braces"
    return {" ".join(words): children for words, children in root}


def _statements(children):
    return {words[0]: words[1:] for words, _ in children}


@pytest.mark.parametrize("osfinger", ["Debian-13", "Debian-12"])
def test_keepalived_config_file(render, osfinger):
    node = render("pg2", osfinger)
    source, context, args = _managed(node, "keepalived.config", "keepalived-config-file")
    text = node.file(source, context)
    assert text.startswith("# Managed by Salt")
    # the VRRP password: root's alone, never in a diff; keepalived checks every change
    assert (args["mode"], args["user"], args["group"]) == ("0640", "root", "root")
    assert args["show_changes"] is False
    assert shlex.split(args["check_cmd"]) == ["keepalived", "-t", "-f"]
    blocks = _keepalived_blocks(text)
    assert set(blocks) == {"global_defs", "vrrp_script pgsalt_haproxy", "vrrp_instance pgsalt_demo"}
    assert _statements(blocks["global_defs"]) == {
        "router_id": ["pg2"], "script_user": ["root"], "enable_script_security": []}
    check = _statements(blocks["vrrp_script pgsalt_haproxy"])
    assert shlex.split(check.pop("script")[0]) == [
        "/etc/keepalived/pgsalt-check-haproxy", "10.77.0.12", "7000", "/alive"]
    assert check == {"interval": ["1"], "timeout": ["1"], "fall": ["2"], "rise": ["2"]}
    instance = blocks["vrrp_instance pgsalt_demo"]
    settings = _statements(instance)
    nested = {words[0]: [w for w, _ in children] for words, children in instance if children}
    notify = shlex.split(settings.pop("notify")[0])
    assert settings == {
        "state": ["BACKUP"], "interface": ["host0"], "virtual_router_id": ["51"],
        "priority": ["253"], "advert_int": ["1"], "nopreempt": [],
        "unicast_src_ip": ["10.77.0.12"], "unicast_peer": [], "authentication": [],
        "virtual_ipaddress": [], "track_script": []}
    assert nested == {
        "unicast_peer": [["10.77.0.11"], ["10.77.0.13"]],
        "authentication": [["auth_type", "PASS"], ["auth_pass", VIP_PASSWORD]],
        "virtual_ipaddress": [["10.77.0.250/32", "dev", "host0"]],
        "track_script": [["pgsalt_haproxy"]]}
    assert notify == ["/etc/keepalived/pgsalt-notify", execmod._salt_call(), "demo",
                      "10.77.0.250", "pg2"]


def test_keepalived_config_with_preemption(render):
    pillar = loaders.shipped_pillar()
    pillar["pgsalt"]["clusters"]["demo"]["vip"]["preempt"] = True
    node = render("pg2", pillar=pillar)
    source, context, _ = _managed(node, "keepalived.config", "keepalived-config-file")
    instance = _keepalived_blocks(node.file(source, context))["vrrp_instance pgsalt_demo"]
    assert "nopreempt" not in _statements(instance)


def test_keepalived_scripts_are_roots_and_the_formulas(render):
    node = render()
    for kind in ("check", "notify"):
        source, _, args = _managed(node, "keepalived.config", f"keepalived-config-{kind}-script")
        # keepalived's enable_script_security runs nothing another user could change
        assert (args["user"], args["group"], args["mode"]) == ("root", "root", "0755")
        assert args["name"].startswith("/etc/keepalived/")
        assert _existing_source(source).name == args["name"].rsplit("/", 1)[1]


def _ini(text):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read_string(text)
    return parser


@pytest.mark.parametrize("osfinger", ["Debian-13", "Debian-12"])
def test_pgbouncer_ini(render, osfinger):
    node = render("pg2", osfinger)
    source, context, _ = _managed(node, "pgbouncer.config", "pgbouncer-config-ini")
    text = node.file(source, context)
    ini = _ini(text)
    cluster = node.cluster()
    assert dict(ini["databases"]) == execmod.pgbouncer_databases(cluster)
    pgb = ini["pgbouncer"]
    assert pgb["listen_addr"].split(",") == ["10.77.0.12", "127.0.0.1"]
    assert pgb["listen_port"] == "6432"
    assert (pgb["auth_type"], pgb["auth_hba_file"]) == ("hba", "/etc/pgbouncer/pg_hba.conf")
    assert pgb["auth_user"] == "pgbouncer_auth"
    assert re.fullmatch(r"SELECT .* FROM pgbouncer\.get_auth\(\$1\)", pgb["auth_query"])
    assert pgb["auth_file"] == "/etc/pgbouncer/userlist.txt"
    assert pgb["pool_mode"] == "transaction"
    assert (pgb["default_pool_size"], pgb["max_db_connections"]) == ("20", "30")
    if osfinger == "Debian-13":
        assert pgb["auth_dbname"] == "pgsalt_auth"
        assert "pgsalt_auth" in ini["databases"]
    else:
        assert "auth_dbname" not in pgb
        assert "pgsalt_auth" not in ini["databases"]
    # application users are looked up with auth_query: no password of theirs anywhere
    for password in (DEMO_APP_PASSWORD, AUTH_PASSWORD):
        assert password not in text
    # TLS on: clients must use it; PgBouncer verifies the server's certificate against the CA
    assert {key: value for key, value in pgb.items() if "_tls_" in key} == {
        "client_tls_sslmode": "require", "client_tls_key_file": "/etc/pgsalt/tls/host.key",
        "client_tls_cert_file": "/etc/pgsalt/tls/host.crt", "client_tls_ca_file": CA,
        "server_tls_sslmode": "verify-ca", "server_tls_ca_file": CA}


def test_pgbouncer_ini_with_tls_off(render):
    pillar = _insecure_lab()
    pillar["pgsalt"]["clusters"]["demo"]["pgbouncer"] = {"client_tls_sslmode": "prefer"}
    node = render(pillar=pillar)
    source, context, _ = _managed(node, "pgbouncer.config", "pgbouncer-config-ini")
    pgb = _ini(node.file(source, context))["pgbouncer"]
    assert pgb["listen_port"] == "6432"
    assert not [key for key in pgb if "_tls_" in key]


def test_pgbouncer_userlist_has_the_auth_user_and_a_postgres_without_password(render):
    node = render()
    fun, args = _args(node.sls("pgbouncer.config")["pgbouncer-config-auth-file"])
    assert fun == "file.managed"
    # prometheus (pgbouncer_exporter, stats_users) logs in by peer as well: no password
    assert shlex.split(args["contents"]) == ["pgbouncer_auth", AUTH_PASSWORD, "postgres", "",
                                             "prometheus", ""]
    assert args["mode"] == "0600"
    # postgres reaches the admin console by peer over the socket, and nothing else.
    hba = [line.split() for line in (loaders.ROOT / "salt/pgbouncer/files/pg_hba.conf").read_text()
           .splitlines() if line.strip() and not line.startswith("#")]
    postgres = [rule for rule in hba if rule[2] == "postgres"]
    assert postgres[0] == ["local", "pgbouncer", "postgres", "peer"]
    assert all(rule[-1] == "reject" for rule in postgres[1:])
    assert {("local", "all"), ("host", "all")} <= {(r[0], r[1]) for r in postgres[1:]}
    assert not any(rule[-1] in ("trust", "md5", "password") for rule in hba)


def _env_file(text):
    env = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        match = re.fullmatch(r'([A-Z][A-Z0-9_]*)="([^"\\$`]*)"', line)
        assert match, f"not a KEY=\"VALUE\" line: {line!r}"
        assert match.group(1) not in env
        env[match.group(1)] = match.group(2)
    return env


def test_etcd_environment_file(render):
    node = render()
    source, context, args = _managed(node, "etcd.config", "etcd-config-environment")
    assert args["name"] == "/etc/default/etcd"
    env = _env_file(node.file(source, context))
    assert env == dict(execmod.etcd_environment(node.cluster()))
    assert env["ETCD_NAME"] == "pg2"
    assert env["ETCD_INITIAL_CLUSTER"].count("=https://") == 3
    assert env["ETCD_TRUSTED_CA_FILE"] == env["ETCD_PEER_TRUSTED_CA_FILE"] == CA


@pytest.mark.parametrize("tls", [True, False])
def test_etcd_membership_calls_present_the_host_certificate(render, tls):
    node = render(pillar=None if tls else _insecure_lab())
    states = node.sls("etcd.config")
    expected = ((CA, "/etc/pgsalt/tls/host.crt", "/etc/pgsalt/tls/host.key") if tls
                else (None, None, None))
    for id_ in ("etcd-config-member-present", "etcd-config-initial-state"):
        _, args = _args(states[id_])
        assert (args.get("ca_cert"), args.get("cert_cert"), args.get("cert_key")) == expected
    # etcd reads the host key through group ssl-cert
    assert ("etcd-config-user-reads-host-key" in states) == tls


# --------------------------------------------------------------------------
# orchestrations (rendered as on the master)
# --------------------------------------------------------------------------


def _wheel(minions):
    # a plain function: Jinja's sandbox refuses to call a MagicMock
    def wheel(name, *args, **kwargs):
        assert (name, args) == ("key.list", ("accepted",))
        return {"jid": "20260101000000000000", "return": {"minions": list(minions)},
                "success": True}

    return wheel


def _orch(render, cluster=None, pillar=None, minions=loaders.KNOWN_MINIONS, modules=True,
          sls="orch.deploy", **extra):
    node = render("bedmaster_master", None, pillar)
    if cluster is not None:
        node.pillar["cluster"] = cluster
    node.pillar.update(extra)
    node.functions["saltutil.wheel"] = _wheel(minions)
    if not modules:
        for name in [name for name in node.functions if name.startswith("pgsalt.")]:
            del node.functions[name]
    node.reload()
    return node.sls(sls)


def _deploy_steps(rendered):
    steps = {}
    for id_, body in rendered.items():
        fun, args = _args(body)
        steps[id_] = (fun, args)
    return steps


def _requires(args):
    return [next(iter(req.values())) for req in args.get("require", [])]


@pytest.mark.parametrize(
    ("cluster", "members", "dcs", "db", "etcd_hosts"),
    [
        ("demo", ["pg1", "pg2", "pg3", "pg4"], ["pg1", "pg2", "pg3"], ["pg1", "pg2", "pg3"], []),
        ("second", ["pg5"], [], ["pg5"], ["pg1", "pg2", "pg3"]),
    ],
)
def test_orch_deploy(render, cluster, members, dcs, db, etcd_hosts):
    rendered = _orch(render, cluster)
    _check_high({"orch.deploy": rendered})
    steps = _deploy_steps(rendered)
    assert all(id_.startswith("pgsalt-") for id_ in steps)
    runners = {id_ for id_, (fun, _) in steps.items() if fun == "salt.runner"}
    # TLS on: the cluster CA signs every member's certificate before PostgreSQL is set up
    assert runners == {"pgsalt-deploy-tls-certificates"}
    assert steps["pgsalt-deploy-tls-certificates"][1]["minions"] == members
    # the master's CA for the cluster: no CA of the operator's own is named
    assert "own_ca_cert" not in steps["pgsalt-deploy-tls-certificates"][1]
    assert "own_ca_key" not in steps["pgsalt-deploy-tls-certificates"][1]
    assert _requires(steps["pgsalt-deploy-prepare"][1]) == [
        "pgsalt-deploy-sync", "pgsalt-deploy-tls-certificates"] + (
        ["pgsalt-deploy-etcd-login"] if etcd_hosts else [])
    # a cluster on another's etcd: that etcd's hosts make its login before its Patroni starts
    login = steps.pop("pgsalt-deploy-etcd-login", None)
    assert (login and (login[1]["tgt"], login[1]["sls"], login[1]["pillar"])) == (
        (",".join(etcd_hosts), "etcd.auth", {"cluster": "demo"}) if etcd_hosts else None)
    assert steps["pgsalt-deploy-sync"][1]["tgt"] == ",".join(members + etcd_hosts)
    for id_, (_, args) in steps.items():
        if id_ in runners:
            continue
        assert args["failhard"] is True
        # every SLS applied exists
        for sls in args["sls"] if isinstance(args["sls"], list) else [args["sls"]]:
            _sls_path(sls)
        targets = str(args["tgt"]).split(",")
        assert set(targets) <= set(members + etcd_hosts), args["tgt"]
    # one wide step before Patroni: every member applies what its roles need
    _, prepare = steps["pgsalt-deploy-prepare"]
    assert (prepare["tgt"], prepare["sls"]) == (",".join(members), "pgsalt.prepare")
    # one db member at a time, in order, before the SQL objects
    previous = "pgsalt-deploy-prepare"
    for member in db:
        fun, args = steps[f"pgsalt-deploy-patroni-{member}"]
        assert args["tgt"] == member
        assert args["sls"] == "patroni.service"
        assert _requires(args) == [previous]
        previous = f"pgsalt-deploy-patroni-{member}"
    assert _requires(steps["pgsalt-deploy-sql-objects"][1]) == [previous]
    # then one wide step once the leader holds the SQL objects, the last
    _, serve = steps["pgsalt-deploy-serve"]
    assert (serve["tgt"], serve["sls"]) == (",".join(members), "pgsalt.serve")
    assert _requires(serve) == ["pgsalt-deploy-sql-objects"]
    assert list(steps)[-1] == "pgsalt-deploy-serve"
    # no secret travels as a job argument
    text = json.dumps(_plain(rendered))
    secrets = loaders.passwords(loaders.shipped_pillar())
    assert VIP_PASSWORD in secrets
    assert [p for p in secrets if p in text] == []


def test_orch_deploy_with_tls_off_and_a_posix_repository_issues_no_certificate(render):
    pillar = _insecure_lab("second")
    # second uses demo's etcd, which then has TLS off too
    pillar["pgsalt"]["clusters"]["demo"].update(insecure_lab=True, tls={"enabled": False})
    rendered = _orch(render, "second", pillar)
    _check_high({"orch.deploy": rendered})
    steps = _deploy_steps(rendered)
    assert [id_ for id_, (fun, _) in steps.items() if fun == "salt.runner"] == []


def test_orch_deploy_signs_with_the_own_ca_of_the_etcd_cluster(render, tmp_path):
    pillar = loaders.shipped_pillar()
    own_ca = loaders.own_ca(tmp_path)
    pillar["pgsalt"]["clusters"]["demo"]["tls"] = {"own_ca": own_ca}
    rendered = _orch(render, "second", pillar)
    _check_high({"orch.deploy": rendered})
    _, args = _deploy_steps(rendered)["pgsalt-deploy-tls-certificates"]
    # second is on demo's etcd: demo's CA, the operator's own, signs its certificates
    assert (args["cluster"], args["minions"]) == ("demo", ["pg5"])
    assert (args["own_ca_cert"], args["own_ca_key"]) == (own_ca["cert"], own_ca["key"])


def _refusal(rendered):
    """The single state a refused orchestration renders, and all its text."""
    assert len(rendered) == 1, list(rendered)
    ((id_, body),) = rendered.items()
    _, args = _args(body)
    assert args.get("failhard") is True
    return id_, json.dumps(_plain(args))


def test_orch_deploy_refuses_a_broken_pillar(render):
    pillar = loaders.shipped_pillar()
    demo = pillar["pgsalt"]["clusters"]["demo"]
    demo["members"]["pg2"]["roles"] = ["db", "dancer"]
    demo["users"]["superuser"]["password"] = 'a "quoted" pw'
    rendered = _orch(render, "demo", pillar)
    _check_high({"orch.deploy": rendered})
    id_, text = _refusal(rendered)
    assert id_.startswith("pgsalt-")
    assert "pgsalt:clusters:demo:members:pg2:roles: unknown role 'dancer'" in text
    assert "pgsalt:clusters:demo:users:superuser:password" in text
    assert "quoted" not in text


def test_orch_deploy_refuses_an_unknown_minion(render):
    rendered = _orch(render, "second", minions=["pg1", "pg2", "pg3"])
    _, text = _refusal(rendered)
    assert "pgsalt:clusters:second:members:pg5: not a known minion" in text


def test_orch_deploy_without_the_formulas_modules_on_the_master(render):
    rendered = _orch(render, "demo", modules=False)
    _check_high({"orch.deploy": rendered})
    _, text = _refusal(rendered)
    assert "saltutil.sync_all" in text


def test_orch_restore_rolls_leader_backup_then_replicas(render):
    request = {"type": "time", "target": "2026-11-26 10:30:00+00", "leader": "pg2"}
    rendered = _orch(render, "demo", sls="orch.restore", restore=request)
    _check_high({"orch.restore": rendered})
    order = list(rendered)
    assert order[:6] == ["pgsalt-restore-sync", "pgsalt-restore-stop-patroni",
                         "pgsalt-restore-clear-dcs", "pgsalt-restore-set-data-aside",
                         "pgsalt-restore-leader", "pgsalt-restore-point-reached"]
    steps = _deploy_steps(rendered)
    assert steps["pgsalt-restore-leader"][1]["tgt"] == "pg2"
    assert steps["pgsalt-restore-leader"][1]["pillar"]["restore"] == {
        "type": "time", "target": "2026-11-26 10:30:00+00"}
    assert steps["pgsalt-restore-full-backup"][1]["tgt"] == "pg4"
    # The replicas come after the new timeline's full backup, one at a time.
    assert _requires(steps["pgsalt-restore-replica-pg1"][1]) == ["pgsalt-restore-full-backup"]
    assert _requires(steps["pgsalt-restore-replica-pg3"][1]) == [
        "pgsalt-restore-replica-pg1-old-data-removed"]
    assert all(args.get("failhard") is True for _, args in steps.values())


@pytest.mark.parametrize(("sls", "extra", "word"), [
    ("orch.restore", {"restore": {"type": "xid", "target": "soon"}},
     "restore:target: 'soon' is not a xid target"),
    ("orch.backup", {"type": "weekly"}, "type: weekly is not a backup type"),
])
def test_backup_orchestrations_refuse_bad_input(render, sls, extra, word):
    rendered = _orch(render, "demo", sls=sls, **extra)
    _, text = _refusal(rendered)
    assert word in text and "no host was touched" in text


def test_backup_orchestrations_run_on_the_repository_host(render):
    backup = _deploy_steps(_orch(render, "demo", sls="orch.backup", type="incr"))
    assert backup == {"pgsalt-backup-incr": ("salt.function", {
        "name": "pgsalt_backup.take", "tgt": "pg4", "tgt_type": "list",
        "arg": ["demo", "incr"], "failhard": True})}
    drill = _deploy_steps(_orch(render, "demo", sls="orch.restore_drill"))
    assert drill["pgsalt-restore-drill"][1]["tgt"] == "pg4"
    assert drill["pgsalt-restore-drill"][1]["kwarg"]["path"] == "/var/lib/pgbackrest-drill"
    _, text = _refusal(_orch(render, "second", sls="orch.restore_drill"))
    assert "pgsalt:clusters:second:pgbackrest" in text


# --------------------------------------------------------------------------
# monitoring (a cluster with a monitor host)
# --------------------------------------------------------------------------


def _monitored(pillar=None):
    """The shipped pillar with pg4 the demo's repository and monitor host."""
    pillar = loaders.shipped_pillar() if pillar is None else pillar
    pillar["pgsalt"]["clusters"]["demo"]["members"]["pg4"]["roles"] = ["backup", "monitor"]
    return pillar


def _unmonitored():
    pillar = loaders.shipped_pillar()
    for spec in pillar["pgsalt"]["clusters"].values():
        for member in spec["members"].values():
            member["roles"] = [role for role in member["roles"] if role != "monitor"]
    return pillar


def _monitoring_sls(rendered):
    return {sls for sls in rendered if sls.split(".")[0] == "monitoring"}


@pytest.mark.parametrize(("minion", "osfinger", "expected"), [
    # the monitor host (and pgBackRest's repository: no PostgreSQL, no backup metrics)
    ("pg4", "Debian-13", {"monitoring", "monitoring.exporters", "monitoring.server",
                          "monitoring.dashboards"}),
    ("pg1", "Debian-13", {"monitoring", "monitoring.exporters", "monitoring.backup"}),
    ("pg1", "Debian-12", {"monitoring", "monitoring.exporters", "monitoring.backup"}),
    # second has no monitor host of its own: demo's does not scrape it
    ("pg5", "Debian-13", set()),
])
def test_monitoring_highstate_by_role(render, minion, osfinger, expected):
    rendered = render(minion, osfinger, _monitored()).highstate("pgsalt")
    assert _monitoring_sls(rendered) == expected
    _check_high(rendered)


def test_monitoring_highstate_without_grafana_or_a_monitor_host(render):
    pillar = _monitored()
    pillar["pgsalt"]["clusters"]["demo"]["monitoring"] = {"grafana": False}
    rendered = render("pg4", pillar=pillar).highstate("pgsalt")
    assert "monitoring.server" in rendered and "monitoring.dashboards" not in rendered
    _check_high(rendered)
    for minion in ("pg1", "pg4"):
        assert _monitoring_sls(render(minion, pillar=_unmonitored()).highstate("pgsalt")) == set()


@pytest.mark.parametrize("tls", [True, False])
def test_monitoring_server_files_are_the_modules_and_checked_before_use(render, tls):
    pillar = _monitored() if tls else _monitored(_insecure_lab())
    node = render("pg4", pillar=pillar)
    cluster = node.cluster()
    states = node.sls("monitoring.server")
    files = {}
    for id_, body in states.items():
        if id_ == "include":
            continue
        fun, args = _args(body)
        if fun == "file.managed":
            files[args["name"]] = args
    # what Prometheus and Alertmanager read, each checked by its own tool before it is used
    expected = {
        "/etc/prometheus/rules/pgsalt.yml": (
            "promtool check rules", monitoring.rules(cluster)),
        "/etc/prometheus/prometheus.yml": (
            "promtool check config",
            monitoring.prometheus_config(cluster, CA if tls else None)),
        "/etc/prometheus/alertmanager.yml": (
            "amtool check-config", monitoring.alertmanager_config(cluster)),
    }
    for name, (check, data) in expected.items():
        args = files[name]
        assert shlex.split(args["check_cmd"]) == shlex.split(check), name
        assert yaml.safe_load(args["contents"]) == _plain(data), name
    config = yaml.safe_load(files["/etc/prometheus/prometheus.yml"]["contents"])
    patroni = next(job for job in config["scrape_configs"] if job["job_name"] == "patroni")
    assert patroni.get("tls_config") == ({"ca_file": CA} if tls else None)
    _, args = _args(states["monitoring-server-prometheus-config"])
    assert ({"file": "pgsalt-tls-ca"} in args["require"]) == tls
    # both bind the monitor host's cluster address; Alertmanager runs no gossip listener
    prometheus = _args_of(_env_file(files["/etc/default/prometheus"]["contents"]))
    assert prometheus["--web.listen-address"] == "10.77.0.14:9090"
    assert prometheus["--storage.tsdb.retention.time"] == "15d"
    alertmanager = _args_of(_env_file(files["/etc/default/prometheus-alertmanager"]["contents"]))
    assert alertmanager == {"--web.listen-address": "10.77.0.14:9093",
                            "--cluster.listen-address": ""}
    # a new config or rule file is a reload of Prometheus, not a restart
    _, reload = _args(states["monitoring-server-prometheus-reloaded"])
    assert reload["reload"] is True
    assert _requisites(reload["watch"]) == {("file", "monitoring-server-prometheus-config"),
                                            ("file", "monitoring-server-rules")}


def _args_of(env):
    """An env file's ARGS as {--flag: value}."""
    return dict(arg.split("=", 1) for arg in shlex.split(env["ARGS"]))


def _requisites(items):
    return {next(iter(item.items())) for item in items}


@pytest.mark.parametrize("osfinger", ["Debian-13", "Debian-12"])
def test_monitoring_exporters_run_with_the_modules_arguments(render, osfinger):
    node = render("pg1", osfinger, _monitored())
    cluster = node.cluster()
    expected = monitoring.exporter_args(cluster)
    # Debian 12's prometheus-pgbouncer-exporter is another program: balancers there run none.
    assert sorted(expected) == ["prometheus-node-exporter"] + (
        ["prometheus-pgbouncer-exporter"] if osfinger == "Debian-13" else []) + [
        "prometheus-postgres-exporter"]
    states = node.sls("monitoring.exporters")
    for pkg, arguments in expected.items():
        fun, args = _args(states[f"monitoring-exporters-{pkg}-installed"])
        # installed without Debian's first start on every interface
        assert (fun, args["pkgs"], args["service"]) == (
            "pgsalt.installed_unstarted", [pkg], pkg)
        _, args = _args(states[f"monitoring-exporters-{pkg}-arguments"])
        assert args["name"] == f"/etc/default/{pkg}"
        env = _env_file(args["contents"])
        assert env.pop("ARGS") == arguments
        if pkg == "prometheus-postgres-exporter":
            assert env.pop("DATA_SOURCE_NAME") == monitoring.postgres_dsn(cluster)
        assert env == {}
        fun, args = _args(states[f"monitoring-exporters-{pkg}-running"])
        assert fun == "service.running" and args["enable"] is True
        assert ("file", f"monitoring-exporters-{pkg}-arguments") in _requisites(args["watch"])
    # the queries file lands where postgres_exporter is told to read it, and a new one restarts it
    _, queries = _args(states["monitoring-exporters-postgres-queries"])
    assert queries["name"] == _args_of({"ARGS": expected["prometheus-postgres-exporter"]})[
        "--extend.query-path"]
    assert _existing_source(queries["source"]).name == "pgsalt-queries.yaml"
    _, running = _args(states["monitoring-exporters-prometheus-postgres-exporter-running"])
    assert ("file", "monitoring-exporters-postgres-queries") in _requisites(running["watch"])


def test_monitoring_backup_metrics_timer_feeds_node_exporter(render):
    node = render("pg1", pillar=_monitored())
    cluster = node.cluster()
    states = node.sls("monitoring.backup")
    _, script = _args(states["monitoring-backup-script"])
    assert _existing_source(script["source"]).name == "pgsalt-backup-metrics"
    assert script["mode"] == "0755"
    _, units = _args(states["monitoring-backup-units"])
    units = {name: _unit(next(iter(spec[0].values())))
             for entry in units["names"] for name, spec in entry.items()}
    service = units["/etc/systemd/system/pgsalt-backup-metrics.service"]["Service"]
    command, stanza, output = shlex.split(service["ExecStart"])
    assert (command, stanza) == (script["name"], cluster["scope"])
    # node_exporter's textfile directory, the one its ARGS name
    node_args = _args_of({"ARGS": monitoring.exporter_args(cluster)["prometheus-node-exporter"]})
    assert output.rsplit("/", 1) == [node_args["--collector.textfile.directory"],
                                     "pgsalt_backup.prom"]
    timer = units["/etc/systemd/system/pgsalt-backup-metrics.timer"]["Timer"]
    assert timer["OnUnitActiveSec"] == "5min"
    # the staleness alert leaves the timer several runs before it fires
    (stale,) = [rule for rule in monitoring.rules(cluster)["groups"][0]["rules"]
                if rule["alert"] == "PGBackupMetricsStale"]
    assert int(stale["expr"].rsplit(">", 1)[1]) >= 3 * 5 * 60


def test_monitoring_dashboards_provisioning_points_at_the_dashboards(render):
    node = render("pg4", pillar=_monitored())
    cluster = node.cluster()
    states = node.sls("monitoring.dashboards")
    fun, files = _args(states["monitoring-dashboards-files"])
    assert fun == "file.recurse" and files["clean"] is True
    assert files["name"] == cluster["monitoring"]["dashboards_dir"]
    _existing_source(files["source"], directory=True)
    source, context, args = _managed(node, "monitoring.dashboards",
                                     "monitoring-dashboards-provisioning")
    assert args["name"].startswith(cluster["monitoring"]["provisioning_dir"] + "/")
    (provider,) = yaml.safe_load(node.file(source, context))["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == files["name"]


@pytest.mark.parametrize("on", [True, False])
def test_haproxy_serves_prometheus_only_with_monitoring(render, on):
    node = render(pillar=_monitored() if on else _unmonitored())
    source, context, _ = _managed(node, "haproxy.config", "haproxy-config-file")
    sections = _haproxy_sections(node.file(source, context))
    assert ("frontend prometheus" in sections) == on
    if on:
        frontend = sections["frontend prometheus"]
        # the cluster address and the port Prometheus scrapes
        assert _directive(frontend, "bind") == [["bind", "10.77.0.12:8405"]]
        assert _directive(frontend, "mode") == [["mode", "http"]]
        assert _directive(frontend, "http-request", "use-service") == [
            ["http-request", "use-service", "prometheus-exporter", "if", "{", "path",
             "/metrics", "}"]]


@pytest.mark.parametrize("on", [True, False])
def test_postgresql_objects_prometheus_role_only_with_monitoring(render, on):
    states = render(pillar=_monitored() if on else _unmonitored()).sls("postgresql.objects")
    ids = {"postgresql-objects-role-prometheus", "postgresql-objects-role-prometheus-pg-monitor"}
    assert (ids <= set(states)) == on
    assert (ids & set(states) == set()) == (not on)
    if on:
        fun, role = _args(states["postgresql-objects-role-prometheus"])
        # it logs in by peer over the socket: no password
        assert (fun, role["name"], role["login"]) == ("pgsalt_sql.role_present", "prometheus",
                                                      True)
        assert "password" not in role
        fun, member = _args(states["postgresql-objects-role-prometheus-pg-monitor"])
        assert (fun, member["name"], member["group"]) == (
            "pgsalt_sql.role_member", "prometheus", "pg_monitor")
        assert _requisites(member["require"]) == {
            ("pgsalt_sql", "postgresql-objects-role-prometheus")}


@pytest.mark.parametrize(
    ("minion", "prepare", "serve"),
    [
        ("pg1", ["pgbackrest", "etcd", "postgresql", "patroni.config"],
         ["haproxy", "pgbouncer", "keepalived", "monitoring"]),
        # the repository and monitor host: no Patroni; the stanza and Prometheus
        ("pg4", ["pgbackrest"], ["pgbackrest.stanza", "monitoring"]),
        # cluster second: a posix repository (the stanza where PostgreSQL runs), demo's etcd
        ("pg5", ["pgbackrest", "postgresql", "patroni.config"],
         ["haproxy", "pgbouncer", "pgbackrest.stanza"]),
    ],
)
def test_deploy_steps_apply_what_each_host_serves(render, minion, prepare, serve):
    node = render(minion)
    c = node.cluster()
    assert execmod.phase(c, "prepare") == ["pgsalt.python", "pgsalt.packages"] + prepare
    assert execmod.phase(c, "serve") == serve
    assert node.sls("pgsalt.prepare")["include"] == execmod.phase(c, "prepare")
    assert node.sls("pgsalt.serve")["include"] == serve
    # the host's highstate applies all of it (the stanza aside): a highstate converges
    # what orch.deploy built
    high = _ids(node.highstate("pgsalt"))
    for sls in prepare + serve:
        if sls != "pgbackrest.stanza":
            assert _ids(node.highstate(sls)) <= high, sls


@pytest.mark.parametrize("minion", ["pg1", "pg4"])
def test_one_package_transaction_holds_every_package_of_the_host(render, minion):
    """The early transaction is faster only if the components' package states then find
    their packages installed; one missing from it would install one apt run later."""
    node = render(minion)
    wanted = execmod.packages(node.cluster())
    high = _high(node.highstate("pgsalt"))
    _, args = _args(high["pgsalt-packages-installed"])
    assert (args["pkgs"], args["service"], args["reload_modules"]) == (
        wanted["pkgs"], wanted["unstarted"], True)
    installed, kept = set(), set()
    for id_, body in high.items():
        fun, args = _args(body)
        if id_ == "pgsalt-packages-installed" or fun not in (
                "pkg.installed", "pgsalt.installed_unstarted"):
            continue
        installed |= set(args.get("pkgs") or [args.get("name", id_)])
        if fun == "pgsalt.installed_unstarted":
            kept.add(args["service"])
    installed.discard("ssl-cert")  # the certificates' group; postgresql-common pulls it in
    assert installed <= set(wanted["pkgs"]), installed - set(wanted["pkgs"])
    # what Debian would start with its own config stays stopped in the one transaction too
    assert kept <= set(wanted["unstarted"]), kept - set(wanted["unstarted"])
    if minion == "pg1":
        # no default cluster: the config that says so exists before postgresql-common
        assert _args(high["pgsalt-packages-installed"])[1]["require"] == [
            {"file": "postgresql-package-no-default-cluster"}]
