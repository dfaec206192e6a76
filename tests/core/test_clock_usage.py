"""Business code reads time only through the injected Clock (core/clock.py is the one exception)."""

import re
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "app"
WALL_CLOCK = re.compile(
    r"datetime\.now\(|datetime\.utcnow\(|date\.today\(|time\.time\(|time\.monotonic\(|"
    r"datetime\.today\(|utcnow\("
)


def test_only_core_clock_reads_the_wall_clock() -> None:
    offenders = []
    for path in sorted(APP.rglob("*.py")):
        if path == APP / "core" / "clock.py":
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if WALL_CLOCK.search(line):
                offenders.append(f"{path.relative_to(APP.parent)}:{n}: {line.strip()}")
    assert offenders == []


def test_the_scan_would_catch_a_wall_clock_read() -> None:
    assert WALL_CLOCK.search("    created = datetime.now(UTC)")
    assert WALL_CLOCK.search("t = time.time()")
