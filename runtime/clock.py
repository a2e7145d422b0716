"""Clocks for the executor: the real one, and a virtual one for tests.

The virtual clock never sleeps: the executor moves it to the next timer when nothing
else can run (no activity in flight, no event to deliver), so a test of a week-long
monitor takes milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime

DEFAULT_START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    """The real clock (UTC)."""

    virtual = False

    def now(self) -> datetime:
        return datetime.now(UTC)

    def advance_to(self, when: datetime) -> None:
        raise RuntimeError("the real clock cannot be moved")


class VirtualClock(Clock):
    """A clock that stands still until the executor moves it to the next timer."""

    virtual = True

    def __init__(self, start: datetime = DEFAULT_START) -> None:
        if start.tzinfo is None:
            raise ValueError("VirtualClock needs a timezone-aware start time")
        self._now = start

    def now(self) -> datetime:
        return self._now

    def advance_to(self, when: datetime) -> None:
        if when > self._now:
            self._now = when


def iso(when: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as status documents and journal records carry it."""
    if when.tzinfo is not UTC:  # (the engine's times are UTC already: four per step)
        when = when.astimezone(UTC)
    return when.isoformat().replace("+00:00", "Z")


def parse_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
