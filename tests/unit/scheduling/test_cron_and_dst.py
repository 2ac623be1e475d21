"""Cron times are wall-clock times in the schedule's timezone: the DST transitions of two
timezones, the 29th-31st of months, and the scheduler ticking through a transition."""

from __future__ import annotations

import itertools
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import heron
from heron.core.errors import InvalidArgument
from heron.scheduling import cron
from heron.scheduling.scheduler import Scheduler

UTC = ZoneInfo("UTC")


def ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def local(times, zone):
    return [datetime.fromtimestamp(t / 1000, ZoneInfo(zone)).isoformat() for t in times]


# (zone, spring-forward day, fall-back day) of 2026
TRANSITIONS = [
    ("Europe/Zurich", (3, 29), (10, 25)),  # 02:00 -> 03:00, 03:00 -> 02:00
    ("America/New_York", (3, 8), (11, 1)),  # 02:00 -> 03:00, 02:00 -> 01:00
]


@pytest.mark.parametrize(("zone", "spring", "fall"), TRANSITIONS)
def test_a_time_skipped_by_spring_forward_runs_once_at_the_next_valid_instant(zone, spring, fall):
    tz = ZoneInfo(zone)
    start = ms(datetime(2026, spring[0], spring[1] - 1, 12, tzinfo=tz))
    fires = cron.fires_between("30 2 * * *", zone, start, start + 3 * 86_400_000, 10)
    day = f"2026-{spring[0]:02d}-{spring[1]:02d}"
    on_the_day = [f for f in local(fires, zone) if f.startswith(day)]
    assert len(on_the_day) == 1 and on_the_day[0].startswith(f"{day}T03:00:00")
    assert len(fires) == 3  # one a day, no day lost


@pytest.mark.parametrize(("zone", "spring", "fall"), TRANSITIONS)
def test_an_ambiguous_time_of_fall_back_runs_once_at_its_first_occurrence(zone, spring, fall):
    tz = ZoneInfo(zone)
    ambiguous = "1:30" if zone == "America/New_York" else "2:30"
    minute, hour = ambiguous.split(":")[1], ambiguous.split(":")[0]
    start = ms(datetime(2026, fall[0], fall[1], tzinfo=tz)) - 1
    fires = cron.fires_between(f"{minute} {hour} * * *", zone, start, start + 3 * 86_400_000, 10)
    day = f"2026-{fall[0]:02d}-{fall[1]:02d}"
    on_the_day = [f for f in local(fires, zone) if f.startswith(day)]
    assert len(on_the_day) == 1
    first = datetime(2026, fall[0], fall[1], int(hour), int(minute), tzinfo=tz, fold=0)
    later = datetime(2026, fall[0], fall[1], int(hour), int(minute), tzinfo=tz, fold=1)
    assert ms(later) - ms(first) == 3_600_000  # the wall time happens twice that night
    assert fires[0] == ms(first)  # and runs at the earlier of the two instants


@pytest.mark.parametrize(("zone", "spring", "fall"), TRANSITIONS)
def test_hourly_schedules_run_every_real_hour_through_both_transitions(zone, spring, fall):
    tz = ZoneInfo(zone)
    for month, day in (spring, fall):
        start = ms(datetime(2026, month, day, tzinfo=tz))
        end = ms(datetime(2026, month, day + 1, tzinfo=tz))
        fires = cron.fires_between("0 * * * *", zone, start - 1, end - 1, 100)
        gaps = {b - a for a, b in itertools.pairwise(fires)}
        assert gaps == {3_600_000}
        assert len(fires) == (23 if (month, day) == spring else 25)


def test_a_schedule_on_the_29th_to_31st_fires_only_in_months_that_have_the_day():
    start = ms(datetime(2026, 1, 1, tzinfo=UTC)) - 1
    fires = cron.fires_between("0 0 29-31 * *", "UTC", start, start + 366 * 86_400_000, 100)
    per_month: dict[int, list[int]] = {}
    for f in fires:
        moment = datetime.fromtimestamp(f / 1000, UTC)
        per_month.setdefault(moment.month, []).append(moment.day)
    assert 2 not in per_month  # 2026 is no leap year
    assert per_month[4] == [29, 30] and per_month[1] == [29, 30, 31]
    assert len(fires) == 11 * 2 + 7  # 29th and 30th in 11 months, the 31st in 7
    leap = cron.fires_between(
        "0 0 31 * *", "UTC", ms(datetime(2028, 1, 1, tzinfo=UTC)), ms(datetime(2029, 1, 1)), 50
    )
    assert [datetime.fromtimestamp(f / 1000, UTC).month for f in leap] == [1, 3, 5, 7, 8, 10, 12]


def test_the_scheduler_ticks_through_a_transition_at_wall_clock_times(
    store, clock, launcher, pipelines_file
):
    tz = ZoneInfo("Europe/Zurich")
    clock.at(datetime(2026, 3, 27, 12, tzinfo=tz))
    sch = heron.schedule(
        f"{pipelines_file}:daily", cron="30 2 * * *", timezone="Europe/Zurich", name="dst"
    )
    sc = Scheduler(store, clock=clock, launcher=launcher, max_runs=10)
    for _ in range(4 * 24 * 4):  # four days, every 15 minutes
        clock.advance(900)
        sc.step()
        launcher.end_all()
    found = store.list_ticks(sch.id, newest_first=False)
    assert local([t.logical_time for t in found], "Europe/Zurich") == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    assert len({c.run_id for c in launcher.launched}) == 4


@pytest.mark.parametrize(
    ("expr", "fix"),
    [("61 * * * *", "minute"), ("* * *", "five fields"), ("", "expression"), ("@often", "@daily")],
)
def test_an_invalid_cron_is_refused_with_the_fix(expr, fix):
    with pytest.raises(InvalidArgument) as e:
        cron.check_cron(expr)
    assert fix in str(e.value)


def test_nicknames_are_cron_expressions():
    assert cron.next_fire("@daily", "UTC", ms(datetime(2026, 1, 1, 5, tzinfo=UTC))) == ms(
        datetime(2026, 1, 2, tzinfo=UTC)
    )


def test_an_unknown_timezone_is_refused():
    with pytest.raises(InvalidArgument, match=r"Unknown timezone 'Mars/Olympus'.*IANA"):
        cron.check_timezone("Mars/Olympus")
