"""Timestamps as the services write them (ISO 8601, often with a trailing Z), read as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
