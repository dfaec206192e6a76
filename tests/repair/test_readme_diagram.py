"""The README's repair lifecycle diagram is the one generated from the transition table."""

import re
from pathlib import Path

from app.repair import state


def test_readme_shows_exactly_the_generated_repair_diagram() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Repair order lifecycle", 1)
    assert len(section) == 2, "README.md has no 'Repair order lifecycle' section"
    body = section[1].split("\n## ", 1)[0]
    assert re.findall(r"```mermaid\n(.*?)\n```", body, flags=re.DOTALL) == [state.mermaid()]
