"""What a detainer form asks, whether it is in effect, and when the hold it asks for must end."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from streams.core.law.calendar import add_counted_hours, add_elapsed_hours
from streams.core.law.rulebook import FormSpec, RuleBook


@dataclass(frozen=True)
class Detainer:
    """One request lodged by an immigration authority, as the case knows it."""

    detainer_id: str
    form: str
    authority: str
    lodged_at: datetime
    event_id: str
    served_at: datetime | None = None
    federal_felony_warrant: bool = False
    lifted_at: datetime | None = None

    def active(self, at: datetime) -> bool:
        """Lodged and not lifted at `at`."""
        return self.lodged_at <= at and (self.lifted_at is None or at < self.lifted_at)


def spec(book: RuleBook, detainer: Detainer) -> FormSpec:
    """The rule-book entry of the detainer's form (unknown forms are OTHER: nothing is honored)."""
    return book.forms.get(detainer.form, book.forms["OTHER"])


def requests(book: RuleBook, detainer: Detainer, kind: str) -> bool:
    """True when the detainer's form asks for `kind` (HOLD, NOTIFY, TRANSFER)."""
    return kind in spec(book, detainer).requests


def in_effect(book: RuleBook, detainer: Detainer, at: datetime) -> bool:
    """Active, and served on the person where the form takes effect only then (I-247A)."""
    if not detainer.active(at):
        return False
    return not spec(book, detainer).needs_service or (detainer.served_at is not None and detainer.served_at <= at)


def hold_deadline(book: RuleBook, detainer: Detainer, eligible_at: datetime, zone: ZoneInfo) -> datetime:
    """When the hold the form asks for ends, counted from eligibility (re-issued detainers never restart it)."""
    form = spec(book, detainer)
    if form.hold_clock == "business":
        return add_counted_hours(eligible_at, int(form.hold_hours or 0), zone, book.excluded_closures)
    return add_elapsed_hours(eligible_at.astimezone(zone), int(form.hold_hours or 0))
