"""The README is a landing page: every link and image in it points at a file of the repository."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LINK = re.compile(r"\]\((?P<target>[^)\s]+)\)")


def test_every_link_of_the_readme_resolves() -> None:
    targets = [m["target"] for m in LINK.finditer((ROOT / "README.md").read_text())]
    assert len(targets) >= 10
    local = [t.split("#")[0] for t in targets if not t.startswith(("http://", "https://", "#"))]
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README links to files that do not exist: {missing}"


def test_the_readme_is_a_landing_page() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 180, "the README is the landing page; details belong on the docs site"
