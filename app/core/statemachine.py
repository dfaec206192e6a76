"""Lifecycles as data: a transition table {(status, action): next status}. Pure.

Each domain keeps its own statuses, actions and table (app/ticket/state.py,
app/repair/state.py); the lookup and the README diagram are the same for all of them.
"""

from collections.abc import Iterable, Mapping
from enum import StrEnum
from typing import TypeVar

S = TypeVar("S", bound=StrEnum)
A = TypeVar("A", bound=StrEnum)


class InvalidTransition(Exception):
    def __init__(self, status: StrEnum, action: StrEnum) -> None:
        super().__init__(f"{action.value} is not allowed in {status.value}")
        self.status = status
        self.action = action


def next_status(table: Mapping[tuple[S, A], S], current: S, action: A) -> S:
    """The status after `action`, or InvalidTransition."""
    try:
        return table[(current, action)]
    except KeyError:
        raise InvalidTransition(current, action) from None


def mermaid(
    table: Mapping[tuple[StrEnum, StrEnum], StrEnum], initial: StrEnum, terminal: Iterable[StrEnum]
) -> str:
    """The table as a Mermaid state diagram (kept in README.md)."""
    lines = ["stateDiagram-v2", f"    [*] --> {initial.value}"]
    lines += [f"    {src.value} --> {dst.value}: {act.value}" for (src, act), dst in table.items()]
    lines += [f"    {s.value} --> [*]" for s in sorted(terminal)]
    return "\n".join(lines)
