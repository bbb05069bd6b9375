"""The README and docs/ say what is true for a reader of this repository alone (issue 15):

- every file they link to is in the repository (the design notes are docs/design.md, not a
  file of some shared folder the reader does not have);
- "Where things are" names each thing once;
- the shell example runs on any system with Python (no GNU-only `date -d`), and its date
  commands print the days the booking needs;
- `make test` says why each skipped test was skipped (`pytest -rs`).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DOCS = [README, ROOT / "DEVELOPERS.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_every_linked_file_is_in_the_repository():
    missing = []
    for doc in DOCS:
        for target in LINK.findall(doc.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (doc.parent / target).exists():
                missing.append(f"{doc.relative_to(ROOT)} → {target}")
    assert missing == []


def test_the_design_notes_are_in_the_repository():
    text = README.read_text()
    assert "](docs/design.md)" in text
    assert "shared folder" not in text
    design = (ROOT / "docs" / "design.md").read_text()
    for needed in ("## From a booking to an open door", "## Vocabulary", "## Invariants"):
        assert needed in design
    assert len(re.findall(r"^\d+\. \*\*", design, re.M)) == 10  # the ten invariants


def test_where_things_are_names_each_thing_once():
    rows = [
        line.split("|")[1].strip()
        for line in _section(README.read_text(), "Where things are").splitlines()
        if line.startswith("| ") and not line.startswith("| what")
    ]
    assert rows and len(rows) == len(set(rows)), [r for r in rows if rows.count(r) > 1]


def test_the_shell_example_is_portable_and_gives_the_stay_dates():
    text = README.read_text()
    assert "date -d" not in text and "gdate" not in text
    commands = re.findall(r"^(IN|OUT)=\$\((python3 -c '[^']*')\)$", text, re.M)
    assert [name for name, _ in commands] == ["IN", "OUT"]
    days = {}
    before = dt.date.today()
    for name, command in commands:
        out = subprocess.run(["sh", "-c", command], capture_output=True, text=True, check=True)
        days[name] = dt.date.fromisoformat(out.stdout.strip())
    assert days["IN"] in {before, dt.date.today()}  # midnight may pass in between
    assert days["OUT"] - days["IN"] == dt.timedelta(days=2)
    assert '"check_in":"\'$IN\'","check_out":"\'$OUT\'"' in text


def test_make_test_reports_why_tests_were_skipped():
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^test:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "no test target"
    pytest_lines = [line for line in recipe.group(1).splitlines() if "pytest" in line]
    assert pytest_lines and all("-rs" in line.split() for line in pytest_lines), pytest_lines
