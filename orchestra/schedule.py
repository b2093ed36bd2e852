"""`AURA_BACKUP_SCHEDULE`: when the worker takes its backup.

The syntax is `daily@HH:MM` (local time in `AURA_TIMEZONE`) or `off`. A cron subset was the
alternative; one daily time is all a home server's backup needs and cannot be misread.
"""

from __future__ import annotations

import re
import zoneinfo
from dataclasses import dataclass
from datetime import datetime, time, timedelta

from orchestra.errors import InvalidInput

_DAILY = re.compile(r"^daily@([01][0-9]|2[0-3]):([0-5][0-9])$")


@dataclass(frozen=True, slots=True)
class DailySchedule:
    """Once a day at `at`, in `tz`."""

    at: time
    tz: zoneinfo.ZoneInfo

    def previous(self, now: datetime) -> datetime:
        """The latest scheduled moment at or before `now` (an aware datetime)."""
        local = now.astimezone(self.tz)
        today = datetime.combine(local.date(), self.at, tzinfo=self.tz)
        return today if today <= local else datetime.combine(
            local.date() - timedelta(days=1), self.at, tzinfo=self.tz)

    def next(self, now: datetime) -> datetime:
        """The first scheduled moment strictly after `now`."""
        local = now.astimezone(self.tz)
        today = datetime.combine(local.date(), self.at, tzinfo=self.tz)
        return today if today > local else datetime.combine(
            local.date() + timedelta(days=1), self.at, tzinfo=self.tz)


def parse_schedule(text: str, timezone: str = "UTC") -> DailySchedule | None:
    """`daily@HH:MM` → a schedule; `off` (or empty) → None; anything else is refused."""
    value = text.strip().lower()
    if value in ("", "off"):
        return None
    match = _DAILY.match(value)
    if match is None:
        raise InvalidInput(f"AURA_BACKUP_SCHEDULE {text!r} is not understood: use "
                           "daily@HH:MM (24-hour, in AURA_TIMEZONE), e.g. daily@03:00, or off")
    return DailySchedule(time(int(match[1]), int(match[2])), zoneinfo.ZoneInfo(timezone))
