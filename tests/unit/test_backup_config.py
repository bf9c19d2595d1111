"""The backup side of _modules/pgsalt.py and the restore request check of the model: what
pgBackRest's config holds on each host, what Patroni gains, and how a restore bootstraps."""

import shlex

import loaders
import pytest

pytestmark = pytest.mark.unit

execmod = loaders.load("pgsalt_execmod_backup_under_test", "_modules/pgsalt.py")
model = loaders.load("pgsalt_model_backup_under_test", "_utils/pgsalt_model.py")
PASSPHRASE = "demo-repository-cipher-Vb7xQ2mT"


@pytest.fixture(scope="module")
def defaults():
    return loaders.defaults()


def resolved(minion, pillar=None, defaults=None):
    dunders = loaders.minion_globals(minion, "Debian-13", pillar)
    execmod.__dict__.update(dunders)
    return execmod.cluster(defaults)


def options(sections):
    """{section: [(option, value), ...]} from pgbackrest_config's pairs."""
    return {name: [tuple(pair) for pair in pairs] for name, pairs in sections}


def test_repository_host_holds_the_repository_and_reaches_every_db_host(defaults):
    conf = options(execmod.pgbackrest_config(resolved("pg4", defaults=defaults)))
    general = dict(conf["global"])
    assert general["repo1-path"] == "/var/lib/pgbackrest"
    assert general["repo1-cipher-type"] == "aes-256-cbc"
    assert general["repo1-cipher-pass"] == PASSPHRASE
    assert general["tls-server-address"] == "10.77.0.14"
    # One authorization per client: pgBackRest reads a list of stanzas after "=".
    assert [v for k, v in conf["global"] if k == "tls-server-auth"] == [
        "pg1=demo", "pg2=demo", "pg3=demo"]
    stanza = dict(conf["demo"])
    assert [stanza[f"pg{i}-host"] for i in (1, 2, 3)] == [
        "10.77.0.11", "10.77.0.12", "10.77.0.13"]
    assert stanza["pg1-path"] == "/var/lib/postgresql/17/demo"
    assert "archive-async" not in general and "global:archive-get" not in conf


def test_db_host_points_at_the_repository_and_gives_up_quickly_when_it_is_down(defaults):
    conf = options(execmod.pgbackrest_config(resolved("pg1", defaults=defaults)))
    general = dict(conf["global"])
    assert general["repo1-host"] == "10.77.0.14" and general["repo1-host-type"] == "tls"
    assert [v for k, v in conf["global"] if k == "tls-server-auth"] == ["pg4=demo"]
    assert not [k for k in general if k.startswith("repo1-cipher") or k == "repo1-path"]
    assert general["archive-async"] == "y"
    assert dict(conf["global:archive-get"]) == {"io-timeout": 1, "archive-timeout": 1}
    assert dict(conf["global:archive-push"]) == {"archive-timeout": 5}
    assert conf["demo"] == [("pg1-path", "/var/lib/postgresql/17/demo"), ("pg1-port", 5432)]


def test_posix_repository_lives_on_each_db_host_without_tls(defaults):
    pillar = loaders.shipped_pillar()
    demo = pillar["pgsalt"]["clusters"]["demo"]
    del demo["members"]["pg4"]
    demo["pgbackrest"]["repository"] = {"type": "posix", "path": "/mnt/backup"}
    general = dict(options(execmod.pgbackrest_config(resolved("pg2", pillar, defaults)))["global"])
    assert general["repo1-path"] == "/mnt/backup"
    assert general["repo1-cipher-pass"] == PASSPHRASE
    assert not [k for k in general if k.startswith(("tls-", "repo1-host"))]


def test_patroni_archives_restores_and_clones_through_pgbackrest(defaults):
    config = execmod.patroni_config(resolved("pg1", defaults=defaults))
    pg = config["postgresql"]
    assert pg["parameters"]["archive_mode"] == "on"
    assert pg["parameters"]["archive_command"] == \
        "/usr/local/sbin/pgsalt-archive-push /usr/bin/pgbackrest --stanza=demo archive-push %p"
    assert pg["recovery_conf"]["restore_command"] == \
        '/usr/bin/pgbackrest --stanza=demo archive-get %f "%p"'
    assert pg["create_replica_methods"] == ["pgbackrest", "basebackup"]
    assert pg["pgbackrest"]["keep_data"] is True
    assert "method" not in config["bootstrap"]


def test_patroni_without_backups_only_clones_with_basebackup(defaults):
    pillar = loaders.shipped_pillar()
    demo = pillar["pgsalt"]["clusters"]["demo"]
    del demo["members"]["pg4"]
    demo["pgbackrest"]["enabled"] = False
    pg = execmod.patroni_config(resolved("pg1", pillar, defaults))["postgresql"]
    assert pg["create_replica_methods"] == ["basebackup"]
    assert "archive_command" not in pg["parameters"] and "recovery_conf" not in pg


def test_a_restore_bootstraps_from_the_repository_to_the_target(defaults):
    request = {"type": "time", "target": "2026-11-26 10:30:00+00"}
    bootstrap = execmod.patroni_config(resolved("pg1", defaults=defaults), request)["bootstrap"]
    assert bootstrap["method"] == "pgsalt_restore"
    method = bootstrap["pgsalt_restore"]
    assert method["keep_existing_recovery_conf"] is True and method["no_params"] is True
    argv = shlex.split(method["command"])
    assert argv[:3] == ["/usr/bin/pgbackrest", "--stanza=demo", "restore"]
    assert {"--type=time", "--target=2026-11-26 10:30:00+00", "--target-action=promote"} <= \
        set(argv)
    # Recovery fetches WAL with long timeouts: the replicas' short ones could end it early.
    (restore_command,) = [a for a in argv if a.startswith("--recovery-option=")]
    assert "--archive-timeout=60" in restore_command


def test_drill_config_restores_into_the_scratch_directory(defaults):
    conf = options(execmod.pgbackrest_drill_config(resolved("pg4", defaults=defaults)))
    assert dict(conf["demo"]) == {"pg1-path": "/var/lib/pgbackrest-drill/data", "pg1-port": 5499}
    assert dict(conf["global"])["repo1-cipher-pass"] == PASSPHRASE


PLAN = {"cluster": "demo", "errors": [], "db": ["pg1", "pg2", "pg3"],
        "backup": {"type": "tls", "repository": "pg4"}}


@pytest.mark.parametrize(("request_", "word"), [
    ({"type": "time", "target": "yesterday"}, "restore:target: 'yesterday' is not a time"),
    ({"type": "lsn", "target": "0/XYZ"}, "restore:target: '0/XYZ' is not a lsn"),
    ({"type": "xid", "target": "abc"}, "is not a xid target"),
    ({"type": "name"}, "restore:target: None is not a name target"),
    ({"type": "latest", "target": "x"}, "type latest takes no target"),
    ({"type": "pitr"}, "restore:type: 'pitr' is not a recovery target type"),
    ({"leader": "pg4"}, "restore:leader: 'pg4' is not a db member"),
    ({"when": "now"}, "restore:when: unknown key"),
])
def test_restore_plan_refuses_a_bad_request(request_, word):
    errors = model.restore_plan(PLAN, request_)["errors"]
    assert any(word in e for e in errors), errors


def test_restore_plan_defaults_and_refuses_without_backups():
    plan = model.restore_plan(PLAN, None)
    assert plan == {"errors": [], "type": "latest", "target": None, "leader": "pg1",
                    "replicas": ["pg2", "pg3"]}
    chosen = model.restore_plan(PLAN, {"type": "lsn", "target": "0/3000060", "leader": "pg3"})
    assert (chosen["leader"], chosen["replicas"]) == ("pg3", ["pg1", "pg2"])
    off = model.restore_plan(dict(PLAN, backup={}), None)["errors"]
    assert off == ["pgsalt:clusters:demo:pgbackrest:enabled: backups are off for this "
                   "cluster; there is nothing to restore from"]
