"""Timestamps as the services write them (ISO 8601, often with a trailing Z), read as aware UTC datetimes."""

from __future__ import annotations

from datetime import UTC, datetime

# The time in a run id (an execution name, orchard-<time>-<digest>[-r<attempt>]): its batch's latest upload.
RUN_ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


def parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def time_text(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def now_text() -> str:
    return time_text(datetime.now(UTC))


def run_id_time(run_id: str) -> datetime | None:
    """The time a run id carries (its second dash-separated field); None for a run id without one."""
    fields = run_id.split("-")
    if len(fields) < 3:
        return None
    try:
        return datetime.strptime(fields[1], RUN_ID_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None
