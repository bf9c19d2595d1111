import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
# The formula's Python lives where Salt syncs it from; tests import it from there.
SOURCES = ("_utils", "_modules", "_states", "_runners", "_beacons",
           "tests/testbed", "tests/e2e", "tests/chaos")
for sub in SOURCES:
    sys.path.insert(0, str(ROOT / sub))
