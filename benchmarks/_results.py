"""The one writer of benchmarks/RESULTS.md: each benchmark replaces its own ``## Title`` section."""

from __future__ import annotations

import re
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")


def replace_section(section: str, path: Path = RESULTS) -> Path:
    """Put ``section`` (starting with its ``## Title`` line) into ``path``.

    The section of the same title is replaced up to the next ``## `` heading; a new title is
    appended at the end. Every other section is kept byte for byte.
    """
    title = section.splitlines()[0].strip()
    if not title.startswith("## "):
        raise ValueError(f"a results section starts with its '## ' title, got {title!r}")
    text = path.read_text() if path.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^{re.escape(title)}[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)
    body = section.rstrip("\n") + "\n"
    if pattern.search(text):
        text = pattern.sub(lambda _: body + "\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + body
    path.write_text(text.rstrip("\n") + "\n")
    return path
