from datetime import datetime, timedelta

import pytest

from streams.core.law import rulebook
from streams.core.law.regimes import forbidding_policy, overlay_active, regime_at

BOOK = rulebook.load()
MS = timedelta(milliseconds=1)


def t(s: str) -> datetime:
    return datetime.fromisoformat(s)


@pytest.mark.parametrize(("instant", "regime"), [
    ("2013-12-31T23:59:59.999-08:00", "CA_PRE_TRUST"),
    ("2014-01-01T00:00:00-08:00", "CA_TRUST"),
    ("2017-12-31T23:59:59.999-08:00", "CA_TRUST"),
    ("2018-01-01T00:00:00-08:00", "CA_VALUES"),
    ("2018-01-01T08:00:00+00:00", "CA_VALUES"),  # the same instant in UTC
    ("2018-01-01T07:59:59.999+00:00", "CA_TRUST"),
])
def test_the_regime_is_picked_by_instant(instant, regime):
    assert regime_at(BOOK, "CA", t(instant)).id == regime


def test_the_truth_act_overlay_starts_2017_01_01():
    start = t("2017-01-01T00:00:00-08:00")
    assert overlay_active(BOOK, "CA", "CA_TRUTH", start)
    assert not overlay_active(BOOK, "CA", "CA_TRUTH", start - MS)


def test_other_states_have_the_federal_baseline_only():
    assert regime_at(BOOK, "WA", t("2019-01-01T00:00:00-08:00")).id == "FED_BASE"
    assert not overlay_active(BOOK, "WA", "CA_TRUTH", t("2019-01-01T00:00:00-08:00"))


def test_a_local_policy_forbids_from_its_date_in_its_county_only():
    start = t("2011-10-18T00:00:00-07:00")
    assert forbidding_policy(BOOK, "CA", "Santa Clara", "HOLD", start) is not None
    assert forbidding_policy(BOOK, "CA", "Santa Clara", "HOLD", start - MS) is None
    assert forbidding_policy(BOOK, "CA", "Santa Clara", "NOTIFY", start) is None
    assert forbidding_policy(BOOK, "CA", "Fresno", "HOLD", start) is None
