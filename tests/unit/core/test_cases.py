"""The case state machine on situations the worked scenarios do not cover."""

from datetime import datetime, timedelta

from streams.core import cases
from streams.core import events as ev
from streams.core.decisions import Deadline
from streams.core.law import rulebook

BOOK = rulebook.load()
T0 = datetime.fromisoformat("2016-05-02T09:00:00-07:00")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def common(n: int, hours: float) -> dict:
    return {"event_id": f"e{n}", "occurred_at": at(hours), "source": "t", "booking_id": "B"}


def step(case, event):
    return cases.apply(BOOK, case, event)


def test_a_duplicate_event_id_changes_nothing():
    case = cases.new_case("B", "CA")
    first = step(case, ev.ReleaseBecameDue(**common(1, 0), reason="BAIL_POSTED", release_at=at(0)))
    again = step(first.case, ev.ReleaseBecameDue(**common(1, 5), reason="COURT_ORDER", release_at=at(5)))
    assert again.case == first.case and again.outputs == () and again.deadlines == ()


def test_a_rescheduled_release_makes_the_earlier_deadline_stale():
    first = step(cases.new_case("B", "CA"), ev.ReleaseBecameDue(**common(1, 0), reason="SENTENCE_SERVED",
                                                          release_at=at(24)))
    (old,) = first.deadlines
    second = step(first.case, ev.ReleaseBecameDue(**common(2, 1), reason="SENTENCE_SERVED", release_at=at(48)))
    (new,) = second.deadlines
    assert new.due_at == at(48) and new.generation > old.generation
    assert cases.fire(BOOK, second.case, old).outputs == ()
    fired = cases.fire(BOOK, second.case, new)
    assert [o.get("directive") for o in fired.outputs if o.type_name == "CustodyCommand"] == ["RELEASE"]


def test_another_custody_basis_stops_the_clock_until_it_clears():
    case = step(cases.new_case("B", "CA"), ev.ReleaseBecameDue(**common(1, 0), reason="BAIL_POSTED", release_at=at(0)))
    (pending,) = case.deadlines
    warrant = step(case.case, ev.CustodyBasisRecorded(**common(2, 0.5), basis_id="W", kind="CRIMINAL_WARRANT",
                                                      active=True))
    assert warrant.deadlines == () and warrant.case.eligible_at is None
    assert cases.fire(BOOK, warrant.case, pending).outputs == ()
    cleared = step(warrant.case, ev.CustodyBasisRecorded(**common(3, 30), basis_id="W", kind="CRIMINAL_WARRANT",
                                                         active=False))
    assert [d.due_at for d in cleared.deadlines] == [at(30)]


def test_an_amended_detainer_does_not_restart_the_hold():
    case = cases.new_case("B", "CA")
    for event in (ev.CriminalHistoryRecorded(**common(1, -48), person_id="P", convictions=(), sex_registrant=True),
                  ev.DetainerLodged(**common(2, -24), detainer_id="D", form="I247D")):
        case = step(case, event).case
    due = step(case, ev.ReleaseBecameDue(**common(3, 0), reason="BAIL_POSTED", release_at=at(0)))
    held = cases.fire(BOOK, due.case, due.deadlines[0])
    (hold,) = [o for o in held.outputs if o.get("kind") == "HOLD"]
    assert hold.get("outcome") == "PERMITTED" and hold.get("until") == at(48)
    amended = step(held.case, ev.DetainerAmended(**common(4, 20), detainer_id="D", form="I247A",
                                                 served_at=at(20)))
    assert amended.deadlines == () and amended.case.hold_until == at(48)


def test_an_interview_before_the_truth_act_needs_no_notice():
    out = step(cases.new_case("B", "CA"), ev.InterviewRequested(**common(1, 0), request_id="R", agency="ICE")).outputs
    assert [(o.type_name, o.get("kind"), o.rule_id) for o in out] == [("Decision", "INTERVIEW", "interview.permitted")]


def test_a_stale_deadline_after_release_does_nothing():
    due = step(cases.new_case("B", "CA"), ev.ReleaseBecameDue(**common(1, 0), reason="BAIL_POSTED", release_at=at(2)))
    gone = step(due.case, ev.Released(**common(2, 1)))
    assert cases.fire(BOOK, gone.case, due.deadlines[0]).outputs == ()
    assert cases.fire(BOOK, gone.case, Deadline(at(3), "B", cases.OVERDUE, gone.case.generation)).outputs == ()


def test_output_ids_are_deterministic_and_differ_by_evidence():
    def run(event_id):
        event = ev.ReleaseBecameDue(**{**common(1, 0), "event_id": event_id}, reason="BAIL_POSTED", release_at=at(0))
        due = step(cases.new_case("B", "CA"), event)
        return [o.output_id for o in cases.fire(BOOK, due.case, due.deadlines[0]).outputs]

    assert run("x") == run("x")
    assert set(run("x")).isdisjoint(run("y"))


def test_output_ids_do_not_depend_on_the_offset_an_instant_was_written_in():
    from datetime import UTC

    def ids(start):
        event = ev.ReleaseBecameDue(event_id="e", occurred_at=start, source="t", booking_id="B",
                                    reason="BAIL_POSTED", release_at=start)
        due = step(cases.new_case("B", "CA"), event)
        return [o.output_id for o in cases.fire(BOOK, due.case, due.deadlines[0]).outputs]

    assert ids(T0) == ids(T0.astimezone(UTC))


def _held_on_a_detainer_alone():
    """Booked with no charges; an I-247D lodged an hour later: the review is due 48 hours and the grace later."""
    booked = step(cases.new_case("B"), ev.BookingRecorded(**common(1, 0), person_id="P", county="Fresno",
                                                         facility="Main Jail", charges=()))
    lodged = step(booked.case, ev.DetainerLodged(**common(2, 1), detainer_id="D", form="I247D"))
    (review,) = [d for d in lodged.deadlines if d.kind == cases.UNRECORDED]
    assert review.due_at == at(1 + 48) + timedelta(minutes=BOOK.overdue_grace_minutes)
    return lodged.case, review


def test_custody_on_a_detainer_alone_past_its_longest_hold_is_reviewed():
    case, review = _held_on_a_detainer_alone()
    (out,) = cases.fire(BOOK, case, review).outputs
    assert (out.get("kind"), out.get("outcome"), out.rule_id, out.evidence) == (
        "REVIEW", "HUMAN_REVIEW", "review.detainers-alone", ("e2",))


def test_whatever_ends_custody_on_a_detainer_alone_makes_its_review_stale():
    case, review = _held_on_a_detainer_alone()
    for event in (ev.ReleaseBecameDue(**common(3, 10), reason="CHARGES_DROPPED", release_at=at(10)),
                  ev.Released(**common(3, 10)),
                  ev.DetainerLifted(**common(3, 10), detainer_id="D"),
                  ev.CustodyBasisRecorded(**common(3, 10), basis_id="W", kind="CRIMINAL_WARRANT", active=True),
                  ev.ChargesAmended(**common(3, 10), charges=(ev.Charge("PC 459", "FELONY"),))):
        later = step(case, event)
        assert later.case.detainers_alone_since is None, type(event).__name__
        assert cases.fire(BOOK, later.case, review).outputs == (), type(event).__name__


def test_a_detainer_alone_again_later_restarts_the_clock_from_then():
    case, first = _held_on_a_detainer_alone()
    warrant = step(case, ev.CustodyBasisRecorded(**common(3, 10), basis_id="W", kind="CRIMINAL_WARRANT",
                                                  active=True)).case
    cleared = step(warrant, ev.CustodyBasisRecorded(**common(4, 30), basis_id="W", kind="CRIMINAL_WARRANT",
                                                    active=False))
    (second,) = [d for d in cleared.deadlines if d.kind == cases.UNRECORDED]
    assert second.due_at == at(30 + 48) + timedelta(minutes=BOOK.overdue_grace_minutes)
    assert cases.fire(BOOK, cleared.case, first).outputs == ()
    assert [o.rule_id for o in cases.fire(BOOK, cleared.case, second).outputs] == ["review.detainers-alone"]


def test_charges_on_the_booking_mean_no_review_for_the_detainer():
    booked = step(cases.new_case("B"), ev.BookingRecorded(
        **common(1, 0), person_id="P", county="Fresno", facility="Main Jail",
        charges=(ev.Charge("PC 459", "FELONY"),)))
    lodged = step(booked.case, ev.DetainerLodged(**common(2, 1), detainer_id="D", form="I247D"))
    assert [d for d in lodged.deadlines if d.kind == cases.UNRECORDED] == []
