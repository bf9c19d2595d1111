import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The formula's Python lives where Salt syncs it from; tests import it from there.
for sub in ("_utils", "_modules", "_states", "_runners", "_beacons", "tests/testbed", "tests/e2e"):
    sys.path.insert(0, str(ROOT / sub))
