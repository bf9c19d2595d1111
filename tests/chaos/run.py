"""make chaos: every implemented fault scenario, per timing profile and client path, on the
deployed demo cluster; the results table goes to BENCHMARKS.md with the command."""

import argparse
import datetime
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent / "testbed"), str(HERE.parent / "bench")]

from bed.client import Bed  # noqa: E402
from report import OUT, write_section  # noqa: E402
from scenarios import PROFILES, SCENARIOS, matrix, run, set_profile  # noqa: E402


def row(r):
    rto = "no recovery" if r["rto"] is None else f"{r['rto']:.1f} s"
    notes = "; ".join(f"{k}: {v}" for k, v in r["notes"].items())
    return (f"| {r['scenario']} | {r['profile']} | {r['port']} | {rto} | {len(r['lost'])} | "
            f"{len(r['unexpected'])} | {len(r['split_brain'])} | {r['indeterminate']} | "
            f"{r['failed']} | {r['acked']} | {r['victim']} → {r['new_leader']} | {notes} |")


def kept(combos):
    """The table's rows now in BENCHMARKS.md (and how they were measured), without those of
    the scenario/profile/port combinations COMBOS measures again."""
    text = OUT.read_text() if OUT.exists() else ""
    match = re.search(r"## Fault injection\n\n(Measured .*?): a client", text)
    again = {(s, p, str(port)) for s, p, port, _ in combos}
    rows = [line for line in text.split("<!-- bench:Fault injection -->")[-1]
            .split("<!-- /bench:Fault injection -->")[0].splitlines()
            if line.startswith("| ") and not line.startswith("| scenario")
            and tuple(c.strip() for c in line.split("|")[1:4]) not in again]
    return rows, (match.group(1) + "; then " if match and rows else "")


def write(rows, command, before=""):
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    write_section("Fault injection", [
        f"{before}Measured {stamp} with `{command}`: a client commits a row every 50 ms "
        "through the given port on a surviving host while the fault hits the primary; the "
        "checker reads every row back from the leader after the cluster healed. "
        "synchronous_mode is on.", "",
        "| scenario | profile | port | RTO | lost | unexpected | split-brain | indeterminate "
        "| failed | acked | victim → leader after | notes |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|", *rows])


# A shorter plan than the whole matrix (about 45 minutes), most telling first: the power
# loss, the VIP's moves, a failover with the repository down, the power loss with the fast
# profile three times (for its median), the graceful cases through both paths, then every
# other scenario once through HAProxy.
FIRST = [("primary-power-loss", "default", 5000, 1), ("vip-holder-power-loss", "default", 5000, 1),
         ("vip-holder-haproxy-stop", "default", 5000, 1),
         ("primary-patroni-stop-repository-down", "default", 5000, 1),
         ("primary-power-loss", "fast", 5000, 3),
         ("primary-patroni-stop", "default", 5000, 1), ("primary-patroni-stop", "default", 6432, 1),
         ("balancer-restart", "default", 6432, 1)]
REPORT = FIRST + [(name, "default", 5000, 1) for name in SCENARIOS
                  if (name, "default", 5000, 1) not in FIRST]


def combinations(a):
    if a.plan == "report":
        return REPORT
    return [(*combination, a.repeat) for combination in matrix(a.scenario, a.profile, a.port)]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--scenario", action="append", choices=sorted(SCENARIOS))
    p.add_argument("--profile", action="append", choices=sorted(PROFILES))
    p.add_argument("--port", action="append", type=int, choices=[5000, 6432])
    p.add_argument("--repeat", type=int, default=1, help="runs of each combination")
    p.add_argument("--plan", choices=["report"], help="a preset instead of the matrix")
    p.add_argument("--keep", action="store_true", help="keep the table's other rows (those "
                   "of combinations this run does not measure)")
    a = p.parse_args()
    bed = Bed()
    rows, before = kept(combinations(a)) if a.keep else ([], "")
    command = "make chaos" if len(sys.argv) == 1 else "python tests/chaos/run.py " + " ".join(
        sys.argv[1:])
    errors = 0
    for scenario, profile, port, repeat in combinations(a):
        for _ in range(repeat):
            try:
                result = run(bed, scenario, profile, port)
            except AssertionError as exc:
                # The table says so and the matrix goes on: each run waits for a healthy
                # cluster first.
                errors += 1
                reason = " ".join(str(exc).split())[:300].replace("|", "/")
                print(f"{scenario} {profile} {port}: {reason}", flush=True)
                rows.append(f"| {scenario} | {profile} | {port} | error | | | | | | | | "
                            f"{reason} |")
            else:
                print(result, flush=True)
                rows.append(row(result))
            # after each run: a run that breaks keeps what was measured
            write(rows, command, before)
    set_profile(bed, "default")
    print(OUT.read_text())
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
