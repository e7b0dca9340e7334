"""NCRONTAB schedules as the Functions timer trigger reads them.

Six fields with seconds first (`{second} {minute} {hour} {day} {month} {day-of-week}`), in UTC
(WEBSITE_TIME_ZONE is not honoured locally), or a TimeSpan (`hh:mm:ss`) meaning "every
interval". croniter does the calendar arithmetic (`second_at_beginning=True` is exactly the
NCRONTAB field order); this module only validates the shape Functions requires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from croniter import croniter

from devhost.settings import SettingsError, parse_timespan


class ScheduleError(ValueError):
    """A schedule the Functions host would refuse to index."""


@dataclass(frozen=True)
class Schedule:
    expression: str

    def __post_init__(self) -> None:
        text = self.expression.strip()
        if ":" in text and " " not in text:
            try:
                interval = parse_timespan(text)
            except SettingsError as exc:
                raise ScheduleError(f"schedule {self.expression!r}: {exc}") from exc
            if interval <= timedelta(0):
                raise ScheduleError(f"schedule {self.expression!r}: interval must be positive")
            return
        fields = text.split()
        if len(fields) != 6:
            raise ScheduleError(
                f"schedule {self.expression!r} has {len(fields)} fields; NCRONTAB needs 6 "
                "with seconds first, e.g. '0 */5 * * * *' for every five minutes"
            )
        if not croniter.is_valid(text, second_at_beginning=True):
            raise ScheduleError(f"schedule {self.expression!r} is not a valid NCRONTAB expression")

    @property
    def interval(self) -> timedelta | None:
        """The fixed interval of a TimeSpan schedule, None for a cron expression."""
        text = self.expression.strip()
        return parse_timespan(text) if ":" in text and " " not in text else None

    def next_after(self, when: datetime) -> datetime:
        """The first occurrence strictly after `when` (UTC-aware)."""
        if when.tzinfo is None:
            raise ValueError("schedule times must be timezone-aware")
        interval = self.interval
        if interval is not None:
            return when + interval
        # day_or=False: NCrontab (CrontabSchedule.GetNextOccurrence) needs a day to match both
        # the day-of-month and the day-of-week fields; cron's (and croniter's default) OR
        # would make "0 0 9 1-7 * Mon" fire on each of the first seven days, not the first Monday.
        it = croniter(
            self.expression.strip(),
            when.astimezone(UTC),
            second_at_beginning=True,
            day_or=False,
        )
        nxt: datetime = it.get_next(datetime)
        return nxt.astimezone(UTC)

    def shortest_gap(self, around: datetime) -> timedelta:
        """Gap between two consecutive occurrences (decides whether the monitor is on)."""
        first = self.next_after(around)
        return self.next_after(first) - first
