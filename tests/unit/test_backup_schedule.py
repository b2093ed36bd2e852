"""`AURA_BACKUP_SCHEDULE`: `daily@HH:MM` in the configured time zone, or off."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mcp_server.settings import Settings
from orchestra.errors import InvalidInput
from orchestra.schedule import parse_schedule


def test_daily_moments_before_and_after_now_in_the_time_zone() -> None:
    schedule = parse_schedule("daily@03:00", "Europe/Berlin")
    assert schedule is not None
    now = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)  # 14:00 in Berlin (summer time)
    assert schedule.previous(now) == datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    assert schedule.next(now) == datetime(2026, 7, 2, 1, 0, tzinfo=UTC)
    early = datetime(2026, 7, 1, 0, 30, tzinfo=UTC)  # 02:30 in Berlin: today's is ahead
    assert schedule.previous(early) == datetime(2026, 6, 30, 1, 0, tzinfo=UTC)
    assert schedule.next(early) == datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    exactly = datetime(2026, 7, 1, 1, 0, tzinfo=UTC)
    assert schedule.previous(exactly) == exactly and schedule.next(exactly) > exactly


def test_off_and_bad_schedules() -> None:
    assert parse_schedule("off") is None and parse_schedule("") is None
    for bad in ("daily", "daily@3:00", "daily@24:00", "hourly@00:10", "0 3 * * *"):
        with pytest.raises(InvalidInput, match="daily@HH:MM"):
            parse_schedule(bad)


def test_a_bad_schedule_stops_the_settings_with_its_name(tmp_path: object) -> None:
    with pytest.raises(ValueError, match="AURA_BACKUP_SCHEDULE"):
        Settings(backup_schedule="weekly", _env_file=None)  # type: ignore[call-arg]
    assert Settings(_env_file=None).backup_keep == 7  # type: ignore[call-arg]
