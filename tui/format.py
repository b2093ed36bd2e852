"""How the console writes times, durations, money and ids: short enough for 80 columns."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

SHORT_ID = 8


def parse_time(value: str | None) -> datetime | None:
    """An ISO time from the API; None when absent or not a time."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def duration(seconds: float) -> str:
    """`42s`, `3m 12s`, `2h 05m`, `3d 04h`: two units at most."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def since(value: str | None, now: datetime) -> str:
    """How long ago `value` was, or an empty string when it is unknown."""
    then = parse_time(value)
    return "" if then is None else duration((now - then).total_seconds())


def countdown(value: str | None, now: datetime) -> str:
    """Time left until `value`; `expired` once it has passed."""
    then = parse_time(value)
    if then is None:
        return ""
    left: timedelta = then - now
    return "expired" if left.total_seconds() <= 0 else duration(left.total_seconds())


def clock(value: str | None) -> str:
    """`HH:MM:SS` of an ISO time (in its own zone: the server's UTC)."""
    then = parse_time(value)
    return "" if then is None else then.strftime("%H:%M:%S")


def short_id(value: str | None) -> str:
    return (value or "")[:SHORT_ID]


def usd(value: str | Decimal | None) -> str:
    """`$1.23`; an amount under a cent keeps four places, so a small spend does not read 0."""
    if value is None:
        return ""
    try:
        amount = Decimal(value)
    except (InvalidOperation, ValueError):
        return str(value)
    places = Decimal("0.0001") if 0 < abs(amount) < Decimal("0.01") else Decimal("0.01")
    return f"${amount.quantize(places)}"


def one_line(text: str | None, width: int) -> str:
    """The first line of `text`, cut to `width` characters with an ellipsis."""
    line = (text or "").strip().splitlines()[0] if (text or "").strip() else ""
    return line if len(line) <= width else line[: max(0, width - 1)] + "…"
