"""Checks of the files written for users rather than run by the tests: kitchen.yml,
its pillar, and pillar.example.

Test Kitchen cannot run here, so kitchen.yml is checked for what can go stale: it must
parse, and every file, SLS and pin it names must exist in the repo. pillar.example must
be valid pillar: each cluster in it passes the validator, and it documents every key.
"""

import copy
import pathlib
import re
import tomllib

import jinja2
import pgsalt_model as model
import pytest
import yaml

pytestmark = pytest.mark.unit

ROOT = pathlib.Path(__file__).resolve().parents[2]
KITCHEN = ROOT / "kitchen.yml"
EXAMPLE = ROOT / "pillar.example"
VARIANT = re.compile(
    r"^\s*# --- begin external-etcd variant ---\n(.*?)^\s*# --- end external-etcd variant ---",
    re.M | re.S,
)


def load_yaml(path):
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def defaults():
    return {name: load_yaml(ROOT / f"salt/{name}/defaults.yaml")
            for name in ("pgsalt", *model.COMPONENTS)}


@pytest.fixture(scope="module")
def kitchen():
    return load_yaml(KITCHEN)


def provisioners(kitchen):
    """The top-level provisioner, then each suite's merged over it (as Test Kitchen does)."""
    base = kitchen["provisioner"]
    yield "provisioner", base
    for suite in kitchen["suites"]:
        yield f"suite {suite['name']}", {**base, **(suite.get("provisioner") or {})}


def sls_exists(name, tree=ROOT / "salt"):
    """SLS a.b is salt/a/b.sls or salt/a/b/init.sls, as Salt's file server finds it."""
    path = tree.joinpath(*name.split("."))
    return path.with_suffix(".sls").is_file() or (path / "init.sls").is_file()


def top_sls(top):
    """Every SLS a top file (as data) names, matchers and options left out."""
    names = []
    for targets in (top or {}).values():
        for entries in (targets or {}).values():
            names += [entry for entry in entries or [] if isinstance(entry, str)]
    return names


def pillar_files(kitchen):
    files = {}
    for _, prov in provisioners(kitchen):
        for key in ("pillars_from_files", "pillars-from-files"):
            files.update(prov.get(key) or {})
    return files


# kitchen.yml


def test_kitchen_yml_parses_and_uses_salt_solo_on_docker(kitchen):
    assert kitchen["driver"]["name"] == "docker"
    assert kitchen["provisioner"]["name"] == "salt_solo"
    images = {p["name"]: p["driver"]["image"] for p in kitchen["platforms"]}
    assert images == {"debian-13": "debian:trixie", "debian-12": "debian:bookworm"}
    assert {s["name"] for s in kitchen["suites"]} >= {
        "etcd", "postgresql-patroni", "haproxy", "pgbouncer"}


def test_salt_version_is_the_projects_pin(kitchen):
    pins = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    salt = next(pin for pin in pins if pin.startswith("salt=="))
    assert isinstance(kitchen["provisioner"]["salt_version"], str)
    assert salt == "salt==" + kitchen["provisioner"]["salt_version"]
    assert any(salt in cmd for cmd in kitchen["driver"]["provision_command"])


def test_python_requirements_installed_up_front_are_the_formulas(kitchen, defaults):
    wanted = defaults["etcd"]["etcd"]["python"] + defaults["postgresql"]["postgresql"]["python"]
    commands = " ".join(kitchen["driver"]["provision_command"])
    for requirement in wanted:
        assert requirement in commands, f"{requirement} is not installed by provision_command"


def test_every_pillar_file_exists(kitchen):
    files = pillar_files(kitchen)
    assert files, "kitchen.yml names no pillar files"
    for key, source in files.items():
        assert (ROOT / source).is_file(), f"pillars_from_files {key}: {source} does not exist"


def test_pillar_top_is_the_beds_and_every_sls_it_names_is_shipped(kitchen):
    files = pillar_files(kitchen)
    assert files["top.sls"] == "pillar/top.sls"
    for name in top_sls(load_yaml(ROOT / "pillar/top.sls")):
        key = name.replace(".", "/") + ".sls"
        assert key in files, f"pillar/top.sls names {name}, which kitchen.yml does not ship"
        if files[key].startswith("pillar/"):
            assert files[key] == f"pillar/{key}", f"{key} is not the bed's own file"


def test_every_state_and_sls_named_exists(kitchen):
    named = 0
    for where, prov in provisioners(kitchen):
        root = ROOT / prov.get("local_salt_root", ".")
        assert (root / "salt").is_dir(), f"{where}: no salt/ under local_salt_root"
        if prov.get("state_top_from_file"):
            top = root / "salt" / "top.sls"
            assert top.is_file(), f"{where}: state_top_from_file but {top} is missing"
            names = top_sls(load_yaml(top))
        else:
            names = top_sls(prov.get("state_top"))
        for name in names:
            assert sls_exists(name, root / "salt"), f"{where}: SLS {name} does not exist"
        named += len(names)
    assert named


def test_suites_name_their_states_or_the_top_file(kitchen):
    for where, prov in provisioners(kitchen):
        if where.startswith("suite"):
            assert prov.get("state_top_from_file") or top_sls(prov.get("state_top")), where


def test_formula_python_is_shipped(kitchen):
    prov = kitchen["provisioner"]
    assert prov["collection_name"] == "", "salt/ must land at the top of the file root"
    shipped = set()
    for dep in prov["dependencies"]:
        path = ROOT / dep["path"]
        assert (path / dep["name"]).is_dir(), f"dependency {dep['name']} not found in {path}"
        shipped.add(dep["name"])
        # kitchen-salt copies these from a path dependency's directory along with it.
        shipped.update(sub for sub in ("_modules", "_states") if (path / sub).is_dir())
    assert shipped >= {"_modules", "_states", "_utils"}
    for sub in ("_modules", "_states", "_utils"):
        assert sub not in prov["salt_copy_filter"]


# The kitchen pillar: the bed's files with the demo cluster on one host.


def render_kitchen_pillar(kitchen):
    """Every pillar SLS the kitchen top file assigns, rendered as Salt would (Jinja, YAML)."""
    from salt.utils.jinja import SerializerExtension

    files = pillar_files(kitchen)
    env = jinja2.Environment(
        loader=jinja2.DictLoader({k: (ROOT / v).read_text() for k, v in files.items()}),
        extensions=[SerializerExtension, "jinja2.ext.do"],
        undefined=jinja2.StrictUndefined,
    )
    pillar = {}
    for name in top_sls(yaml.safe_load(env.get_template("top.sls").render())):
        data = yaml.safe_load(env.get_template(name.replace(".", "/") + ".sls").render())
        pillar = model.merge(pillar, data)
    return pillar


def test_kitchen_pillar_is_valid_and_puts_the_minion_in_a_lab_demo(kitchen, defaults):
    pillar = render_kitchen_pillar(kitchen)
    assert pillar["mine_functions"] == {"network.ip_addrs": []}
    clusters = pillar["pgsalt"]["clusters"]
    # The cluster Kitchen converges; the bed's others (pg5, pg6) use the bed's TLS etcd.
    assert model.validate(clusters, "demo", defaults) == []
    minion = kitchen["provisioner"]["salt_minion_id"]
    assert model.find_cluster(clusters, minion) == "demo"
    demo = clusters["demo"]
    assert demo["lab"] is True
    assert demo["members"] == {minion: {"roles": ["dcs", "db", "balancer"]}}


def test_kitchen_demo_keeps_everything_else_of_the_beds_demo(kitchen):
    bed = load_yaml(ROOT / "pillar/pgsalt/demo.sls")["pgsalt"]["clusters"]["demo"]
    lab = render_kitchen_pillar(kitchen)["pgsalt"]["clusters"]["demo"]
    changed = {"lab", "network", "members", "pgbackrest", "vip", "insecure_lab", "tls"}
    assert {k: v for k, v in lab.items() if k not in changed} == {
        k: v for k, v in bed.items() if k not in changed}
    assert lab["pgbackrest"] == dict(bed["pgbackrest"], repository={"type": "posix"})
    # No Salt master, so no cluster CA to sign host certificates: TLS off, in a lab only.
    assert "tls" not in bed and bed.get("insecure_lab", False) is False
    assert (lab["insecure_lab"], lab["tls"]) == (True, {"enabled": False})
    # A virtual IP needs two balancers: the one-host demo has none.
    assert bed["vip"]["address"] and "vip" not in lab


# pillar.example


@pytest.fixture(scope="module")
def example():
    return load_yaml(EXAMPLE)


@pytest.fixture(scope="module")
def example_clusters(example):
    return example["pgsalt"]["clusters"]


def commented_variant():
    """The external-etcd cluster, kept in comments in pillar.example, as data."""
    found = VARIANT.search(EXAMPLE.read_text())
    assert found, "pillar.example has no external-etcd variant"
    lines = [re.sub(r"^\s*# ?", "", line) for line in found.group(1).splitlines()]
    return yaml.safe_load("\n".join(lines))


def own_passwords(clusters):
    """A copy of CLUSTERS with each placeholder password replaced by one of the operator's own."""
    clusters = copy.deepcopy(clusters)
    for cluster in clusters.values():
        for section in ("users", "roles"):
            for spec in (cluster.get(section) or {}).values():
                if "password" in spec:
                    spec["password"] = spec["password"].replace("CHANGE-ME", "own-Qx7Lp")
        if (cluster.get("vip") or {}).get("password") == "CHANGEME":
            cluster["vip"]["password"] = "own-Qx7L"
    return clusters


def placeholder_errors(clusters, name):
    """The validator's refusals of cluster NAME's placeholder passwords, sorted: one per
    password of its users and roles (a standby's are its source's) and its VIP's, naming
    its key."""
    source = (clusters[name].get("standby") or {}).get("cluster") or name
    keys = [f"{source}:{section}:{key}" for section in ("users", "roles")
            for key, spec in (clusters[source].get(section) or {}).items() if "password" in spec]
    if (clusters[name].get("vip") or {}).get("password") == "CHANGEME":
        keys.append(f"{name}:vip")
    return sorted(f"pgsalt:clusters:{key}:password: a published default or placeholder; "
                  "expected a password of your own" for key in keys)


def leaves(tree, prefix=()):
    """Key paths of a cluster's settings, stopping at maps whose keys are names."""
    for key, value in tree.items():
        path = prefix + (key,)
        if isinstance(value, dict) and value and path not in model.OPEN_MAPS:
            yield from leaves(value, path)
        else:
            yield path


def release_keys(defaults):
    """(component, key) of every default that a host release changes."""
    keys = set()
    for component in model.COMPONENTS:
        for release in (defaults[component].get("release") or {}).values():
            keys.update((component, key) for key in (release or {}).get(component) or {})
    return keys


def test_example_is_yaml_with_the_mine_function(example):
    assert example["mine_functions"] == {"network.ip_addrs": []}
    assert len(example["pgsalt"]["clusters"]) >= 2


def test_every_example_cluster_is_valid_with_passwords_of_its_own(example_clusters, defaults):
    clusters = own_passwords(example_clusters)
    for name in clusters:
        errors = model.validate(clusters, name, defaults, known_minions=None)
        assert errors == [], (name, errors)


def test_example_placeholder_passwords_are_refused_each_by_its_key(example_clusters, defaults):
    for name in example_clusters:
        errors = model.validate(example_clusters, name, defaults, known_minions=None)
        assert sorted(errors) == placeholder_errors(example_clusters, name), name


def test_one_example_cluster_uses_anothers_etcd(example_clusters):
    users = [c for c in example_clusters.values() if (c.get("dcs") or {}).get("cluster")]
    assert users
    for cluster in users:
        assert cluster["dcs"]["cluster"] in example_clusters


def test_commented_external_etcd_variant_is_valid(example_clusters, defaults):
    variant = commented_variant()
    (name,) = variant
    assert variant[name]["dcs"]["endpoints"]
    clusters = {**copy.deepcopy(example_clusters), **variant}
    assert sorted(model.validate(clusters, name, defaults)) == placeholder_errors(clusters, name)
    assert model.validate(own_passwords(clusters), name, defaults) == []


def test_example_passwords_are_long_placeholders(example_clusters):
    clusters = {**example_clusters, **commented_variant()}
    found = 0
    for cluster in clusters.values():
        for section in ("users", "roles"):
            for spec in (cluster.get(section) or {}).values():
                if "password" in spec:
                    found += 1
                    assert spec["password"].startswith("CHANGE-ME-")
                    assert len(spec["password"]) >= model.MIN_PASSWORD
    assert found >= 2 * len(model.SYSTEM_USERS)


def test_example_documents_every_key(example_clusters, defaults):
    """The first cluster sets every key the defaults know, except the defaults that
    depend on the release: those appear commented out, with their name."""
    schema = set(leaves(model._schema(defaults)))
    first = next(iter(example_clusters.values()))
    documented = set(leaves(first))
    release = release_keys(defaults)
    assert release, "no release-dependent defaults found"
    assert schema - documented == release
    assert not documented - schema
    text = EXAMPLE.read_text()
    for _, key in release:
        assert re.search(rf"^\s*#\s*{key}:", text, re.M), f"{key} is not shown commented out"


VIP_CHOICES = {("vip", "address"), ("vip", "interface"), ("vip", "virtual_router_id")}


def test_example_shows_the_defaults(example_clusters, defaults):
    """Where the first cluster sets a key, it shows the default, except for what a real
    cluster must choose itself: network, members, passwords, roles, databases, whether it
    takes backups, and its virtual IP."""
    first = next(iter(example_clusters.values()))
    schema = model._schema(defaults)
    release = release_keys(defaults)
    for path in leaves(schema):
        if path in release or path[0] in ("network", "members", "roles", "databases") \
                or path[-1] == "password" or path == ("pgbackrest", "enabled") \
                or path in VIP_CHOICES:
            continue
        value, default = first, schema
        for key in path:
            value, default = value[key], default[key]
        assert value == default, f"{':'.join(path)}: {value!r} is not the default {default!r}"
