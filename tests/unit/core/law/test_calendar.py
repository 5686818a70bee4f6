from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from streams.core.law.calendar import (
    add_counted_hours,
    add_elapsed_hours,
    federal_holidays,
    is_counted_day,
    years_before,
)

LA = ZoneInfo("America/Los_Angeles")


def t(s: str) -> datetime:
    return datetime.fromisoformat(s)


@pytest.mark.parametrize(("start", "end"), [
    ("2013-11-27T10:00:00-08:00", "2013-12-02T10:00:00-08:00"),  # Thanksgiving and the weekend (S01)
    ("2014-01-17T14:00:00-08:00", "2014-01-22T14:00:00-08:00"),  # MLK weekend (S02)
    ("2015-03-12T09:00:00-07:00", "2015-03-16T09:00:00-07:00"),  # weekend after the spring-forward (S04)
    ("2014-10-31T15:00:00-07:00", "2014-11-04T15:00:00-08:00"),  # fall-back inside an excluded Sunday (S23)
    ("2014-08-16T13:00:00-07:00", "2014-08-20T00:00:00-07:00"),  # starting on a Saturday (S24)
    ("2015-07-02T12:00:00-07:00", "2015-07-06T12:00:00-07:00"),  # observed Friday counted (S35, A2)
    ("2015-12-24T09:00:00-08:00", "2015-12-29T09:00:00-08:00"),  # Thu 15 h, Christmas Friday and weekend out
])
def test_counted_hours_skip_weekends_and_federal_holidays(start, end):
    assert add_counted_hours(t(start), 48, LA) == t(end)


def test_counted_hours_on_a_spring_forward_weekday_count_the_real_23_hours():
    # Monday 2015-03-09 follows the spring-forward Sunday; a counted hold starting on the Sunday at noon
    # counts Monday (24 h) and Tuesday (24 h) and ends Wednesday at midnight.
    assert add_counted_hours(t("2015-03-08T12:00:00-07:00"), 48, LA) == t("2015-03-11T00:00:00-07:00")


def test_elapsed_hours_across_fall_back_end_an_hour_earlier_on_the_wall_clock():
    end = add_elapsed_hours(t("2017-11-04T09:00:00-07:00").astimezone(LA), 48)
    assert end == t("2017-11-06T08:00:00-08:00")
    assert end.astimezone(LA).hour == 8


def test_elapsed_hours_across_spring_forward_end_an_hour_later_on_the_wall_clock():
    end = add_elapsed_hours(t("2016-03-12T20:00:00-08:00").astimezone(LA), 48)
    assert end == t("2016-03-14T21:00:00-07:00")


def test_federal_holidays_are_actual_dates_not_observed_ones():
    assert date(2015, 7, 4) in federal_holidays(2015)
    assert date(2015, 7, 3) not in federal_holidays(2015)
    assert date(2021, 6, 19) in federal_holidays(2021)  # Juneteenth from 2021
    assert date(2020, 6, 19) not in federal_holidays(2020)
    assert date(2013, 11, 29) not in federal_holidays(2013)  # day after Thanksgiving is California's only


def test_a_one_off_closure_is_excluded_only_when_listed_as_excluded():
    closure = frozenset({date(2018, 12, 5)})
    assert is_counted_day(date(2018, 12, 5))
    assert not is_counted_day(date(2018, 12, 5), closure)
    start = t("2018-12-04T09:00:00-08:00")
    assert add_counted_hours(start, 48, LA) == t("2018-12-06T09:00:00-08:00")
    assert add_counted_hours(start, 48, LA, closure) == t("2018-12-07T09:00:00-08:00")


def test_years_before_keeps_the_calendar_day_and_moves_leap_day_to_march_first():
    assert years_before(date(2019, 5, 20), 5) == date(2014, 5, 20)
    assert years_before(date(2024, 2, 29), 5) == date(2019, 3, 1)
