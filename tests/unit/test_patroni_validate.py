"""salt/patroni's config check, run as file.managed runs it, with a stand-in for the patroni
program that prints what Patroni's validator prints (tests/e2e runs it with Patroni itself)."""

import subprocess

import loaders
import pytest

pytestmark = pytest.mark.unit

SCRIPT = loaders.ROOT / "salt" / "patroni" / "files" / "pgsalt-patroni-validate"
UNREACHABLE = ("etcd3.hosts.0 10.77.0.11:2379 didn't pass validation: "
               "10.77.0.11:2379 is not reachable")


def _check(tmp_path, output, code):
    (tmp_path / "output").write_text(output)
    patroni = tmp_path / "patroni"
    patroni.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path}/args\n"
                       f"cat {tmp_path}/output >&2\nexit {code}\n")
    patroni.chmod(0o755)
    run = subprocess.run([SCRIPT, patroni, "/tmp/config.yml"], capture_output=True,
                         text=True, timeout=30)
    called = (tmp_path / "args").read_text().split()
    assert called == ["--validate-config", "--ignore-listen-port", "/tmp/config.yml"]
    return run.returncode, run.stderr


@pytest.mark.parametrize(("output", "code", "passes"), [
    ("", 0, True),
    # an etcd member that does not answer now is the cluster's state, not the file's fault
    (UNREACHABLE, 1, True),
    (f"{UNREACHABLE}\nloop_wait  didn't pass validation: is not an integer", 1, False),
    ("postgresql.bin_dir /usr/lib/postgresql/17/bin didn't pass validation: "
     "directory is missing", 1, False),
    ("", 1, False),
])
def test_only_faults_of_the_file_fail_the_check(tmp_path, output, code, passes):
    returncode, stderr = _check(tmp_path, output, code)
    assert (returncode == 0) is passes
    assert UNREACHABLE not in stderr
    if not passes:
        assert stderr.strip()
