"""The README's class lifecycle diagrams are the ones generated from the transition tables."""

import re
from pathlib import Path

from app.course import state


def test_readme_shows_exactly_the_generated_course_diagrams() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Class signup and help request lifecycles", 1)
    assert len(section) == 2, "README.md has no 'Class signup and help request lifecycles' section"
    body = section[1].split("\n## ", 1)[0]
    assert re.findall(r"```mermaid\n(.*?)\n```", body, flags=re.DOTALL) == [
        state.signup_mermaid(),
        state.help_mermaid(),
    ]
