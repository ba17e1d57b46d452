"""The pages whose code the tests read: the README and every page of the docs site."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def fenced_blocks(language: str) -> dict[str, str]:
    """Every block fenced as ```language (exactly: ```py is not ```python), named page-index, in page
    order."""
    fence = re.compile(rf"^```{re.escape(language)}\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)
    return {
        f"{page.relative_to(ROOT)}-{i}": block
        for page in PAGES
        for i, block in enumerate(fence.findall(page.read_text()))
    }
