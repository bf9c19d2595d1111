"""BENCHMARKS.md is made of sections, each rewritten whole by the tool that measures it."""

import pathlib
import re

OUT = pathlib.Path(__file__).resolve().parents[2] / "BENCHMARKS.md"
HEADER = "# Benchmarks\n\nFigures from `make bench` and `make chaos`, each with its command.\n"


def write_section(title, lines, path=OUT):
    """Replace the section TITLE (its marker comments included) with LINES, or append it."""
    block = "\n".join([f"<!-- bench:{title} -->", f"## {title}", "", *lines,
                       f"<!-- /bench:{title} -->"])
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(rf"<!-- bench:{re.escape(title)} -->.*?<!-- /bench:{re.escape(title)} -->",
                         re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text)
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
