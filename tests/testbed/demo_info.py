"""Print how to reach the demo cluster once `make demo` has deployed it."""

import json
import pathlib
import subprocess
import sys

TB = pathlib.Path(__file__).resolve().parent / "tb"


def main():
    hosts = json.loads(subprocess.run([str(TB), "status"], capture_output=True, text=True,
                                      check=True).stdout)
    rows = subprocess.run([str(TB), "psql", "-c", "SELECT current_user, current_database()"],
                          capture_output=True, text=True)
    if rows.returncode != 0:
        sys.exit(f"the demo cluster does not answer: {rows.stderr.strip()}")
    user, db = rows.stdout.strip().split("|")
    print("\nThe demo cluster is up. Connect as the application role "
          f"(password in pillar/pgsalt/demo.sls) to database {db}:")
    for h in hosts:
        a = h["address"]
        print(f"  {h['name']}: pooled  postgresql://{user}@{a}:6432/{db}   (read-only: {db}_ro)")
        print(f"        direct  postgresql://{user}@{a}:5000/{db}   (read-only: port 5001)")
    print("\nOr use the bed: tests/testbed/tb psql --node pg2 --port 6432 -c 'SELECT 1'")


if __name__ == "__main__":
    main()
