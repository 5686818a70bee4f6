"""Topic replay for investigations: timelines, re-decision under the law of the day, diffs and audits.

Select bookings (by id, person, facility, county) and an event-time window, read them back from Kafka, show
their timeline, decide them again under the law of the day (or another regime) and report where that differs from
what was recorded, or count a whole county's year. `selection` says what is asked, `reader` reads it from the
broker (group-less, never disturbing the workers), `analysis` is pure (timeline, re-decision, diff, summary),
`report` renders it and `command` is the CLI.
"""
