"""The host-side steps of orch.restore (_modules/pgsalt_restore.py) and orch.backup
(_modules/pgsalt_backup.py)."""

from unittest.mock import MagicMock

import loaders
import pytest
import yaml
from salt.exceptions import CommandExecutionError

pytestmark = pytest.mark.unit

restore = loaders.load("pgsalt_restore_under_test", "_modules/pgsalt_restore.py")
backup = loaders.load("pgsalt_backup_under_test", "_modules/pgsalt_backup.py")


@pytest.fixture
def host(tmp_path):
    """A Patroni config and a data directory with a file in it, on a stopped member."""
    data = tmp_path / "17" / "demo"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("17\n")
    config = tmp_path / "config.yml"
    config.write_text(yaml.safe_dump({
        "scope": "demo", "namespace": "/service/",
        "etcd3": {"hosts": ["10.77.0.11:2379", "10.77.0.12:2379"]},
        "postgresql": {"data_dir": str(data), "listen": "10.77.0.11,127.0.0.1:5432"}}))
    salt = {"service.status": MagicMock(return_value=False), "file.chown": MagicMock(),
            "pgsalt_etcd.delete_prefix": MagicMock(return_value=7),
            "event.send": MagicMock(), "cmd.run_all": MagicMock()}
    restore.__salt__ = salt
    return {"config": str(config), "data": data, "salt": salt}


def test_set_aside_keeps_one_copy_and_leaves_an_empty_directory(host):
    first = restore.set_aside(host["config"])
    aside = host["data"].with_name("demo.pre-restore")
    assert first == {"data_dir": str(host["data"]), "set_aside": str(aside)}
    assert (aside / "PG_VERSION").exists() and list(host["data"].iterdir()) == []
    # An empty data directory is not set aside again, and the older copy stays.
    assert restore.set_aside(host["config"])["set_aside"] is None
    assert (aside / "PG_VERSION").exists()
    assert restore.drop_aside(host["config"]) == {"removed": str(aside)}
    assert not aside.exists()


def test_steps_refuse_while_patroni_runs(host):
    host["salt"]["service.status"].return_value = True
    for step in (restore.set_aside, restore.clear_dcs):
        with pytest.raises(CommandExecutionError, match="running"):
            step(host["config"])
    assert (host["data"] / "PG_VERSION").exists()
    host["salt"]["pgsalt_etcd.delete_prefix"].assert_not_called()


def test_clear_dcs_deletes_only_the_clusters_keys(host):
    assert restore.clear_dcs(host["config"]) == {"prefix": "/service/demo/", "deleted": 7}
    host["salt"]["pgsalt_etcd.delete_prefix"].assert_called_once_with(
        "/service/demo/", endpoints=["http://10.77.0.11:2379", "http://10.77.0.12:2379"])


def test_recovery_point_reads_the_new_timelines_history(host):
    answers = {"select timeline_id from pg_control_checkpoint()": "3",
               "select pg_current_wal_lsn()": "0/5000148",
               "select pg_read_file('pg_wal/00000003.history')":
                   "1\t0/3000000\tno recovery target specified\n\n"
                   "2\t0/40021A0\tbefore 2026-11-26 10:27:00.030982+00\n"}

    def psql(argv, **kwargs):
        assert kwargs["runas"] == "postgres" and argv[:4] == ["psql", "-XAtq", "-p", "5432"]
        return {"retcode": 0, "stdout": answers[argv[-1]], "stderr": ""}

    host["salt"]["cmd.run_all"].side_effect = psql
    point = restore.recovery_point("demo", host["config"])
    assert point == {"timeline": 3, "lsn": "0/5000148", "branched_at": "0/40021A0",
                     "reason": "before 2026-11-26 10:27:00.030982+00"}
    host["salt"]["event.send"].assert_called_once_with("pgsalt/restore/demo/done", point)


def test_backup_is_taken_by_the_primary_or_the_repository_host(tmp_path, monkeypatch):
    config = tmp_path / "config.yml"
    monkeypatch.setattr(backup, "PATRONI_CONFIG", str(config))
    take = MagicMock(return_value={"label": "20261126-101437F", "type": "full"})
    run = MagicMock(return_value={"retcode": 0, "stdout": "t\n", "stderr": ""})
    backup.__salt__ = {"pgsalt_backrest.backup": take, "cmd.run_all": run}
    # The repository host has no Patroni: it takes the backup (pgBackRest finds the primary).
    assert backup.take("demo", "diff")["label"] == "20261126-101437F"
    take.assert_called_once_with("demo", type="diff", runas="postgres")
    config.write_text("scope: demo\n")
    take.reset_mock()
    assert backup.take("demo", "full") == {"skipped": "a replica: the primary takes the backup"}
    take.assert_not_called()
