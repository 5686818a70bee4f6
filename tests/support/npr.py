"""The NPR FOIA detainer records (ICE I-247s issued 2014-10-01 to 2015-07-19) as bookings the pipeline can take.

`tests/data/npr_detainers_fy2015.csv` holds the rows of the spreadsheet in
`../shared/data/ice_detainers_npr_fy2008_2015/` (nprapps/sanctuary-cities, public domain) whose facility is in
California, with the columns the tests use, as the spreadsheet writes them. It was made by
`python -m tests.support.npr XLSX` (which needs openpyxl). Each row whose facility names its county becomes a
booking: its record with the state and county as the export spells them ("LOS ANGELES COUNTY JAIL-TWIN TOWER"
gives LOS ANGELES), the detainer on the prepare date, and the release falling due the next day, with no criminal
history.
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

FIXTURE = Path(__file__).parents[1] / "data" / "npr_detainers_fy2015.csv"
COLUMNS = ("prepare_date", "detainer_type", "facility", "state", "city", "lift_reason")
#: the export's detainer types, by the start of their name: the I-247 of 2012-2013 ("Notice of Action") is the
#: legacy form, asking a hold of 48 hours without weekends and holidays
FORMS = (("I247D", "I247D"), ("I247N", "I247N"), ("I247 ", "I247_LEGACY"))


def form_of(detainer_type: str) -> str | None:
    """Our form id for the export's detainer type."""
    return next((form for prefix, form in FORMS if detainer_type.startswith(prefix)), None)
_COUNTY = re.compile(r"^(.*?)\s+(COUNTY|CO\.?|CNTY)\b", re.IGNORECASE)


def convert(xlsx: Path, out: Path = FIXTURE) -> int:
    """The fixture from the spreadsheet; returns the rows written."""
    import openpyxl  # only for making the fixture

    sheet = openpyxl.load_workbook(xlsx, read_only=True).active
    rows = sheet.iter_rows(values_only=True)
    header = [str(h).strip() for h in next(rows)]
    at = {name: header.index(name) for name in ("Prepare Date", "Detainer Type", "Detainer Detention Facility",
                                                "State", "City", "Detainer Lift Reason")}
    n = 0
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for row in rows:
            state = row[at["State"]] or ""
            if str(state).strip().lower() != "california":
                continue
            prepared = row[at["Prepare Date"]]
            writer.writerow([prepared.date().isoformat() if isinstance(prepared, datetime) else prepared,
                             *(row[at[c]] or "" for c in ("Detainer Type", "Detainer Detention Facility", "State",
                                                          "City", "Detainer Lift Reason"))])
            n += 1
    return n


def county_of(facility: str) -> str | None:
    """The county a facility's name gives, as written ("SAN FRANCISCO CO JAIL": SAN FRANCISCO), or None."""
    m = _COUNTY.match(facility.strip())
    return m.group(1) if m else None


def bookings(spell_state=lambda s: s) -> Iterator[list[tuple[str, dict]]]:
    """Each California row with a county in its facility name, as the events of one booking."""
    with FIXTURE.open(newline="") as f:
        for i, row in enumerate(csv.DictReader(f)):
            county = county_of(row["facility"])
            form = form_of(row["detainer_type"])
            if county is None or form is None:
                continue
            day = datetime.fromisoformat(row["prepare_date"]).replace(hour=18, tzinfo=UTC)
            booking = f"NPR-{i}"
            base = {"source": "npr-foia", "booking_id": booking}
            yield [
                ("BookingRecorded", {**base, "event_id": f"{booking}-b", "occurred_at": day - timedelta(hours=6),
                                     "person_id": f"P-{booking}", "state": spell_state(row["state"]),
                                     "county": county, "facility": row["facility"],
                                     "charges": [{"statute": "PC 242", "level": "MISDEMEANOR"}]}),
                ("DetainerLodged", {**base, "event_id": f"{booking}-d", "occurred_at": day, "detainer_id": f"D{i}",
                                    "form": form, "served_at": day}),
                ("ReleaseBecameDue", {**base, "event_id": f"{booking}-r", "occurred_at": day + timedelta(days=1),
                                      "reason": "CHARGES_DROPPED", "release_at": day + timedelta(days=1)}),
            ]


if __name__ == "__main__":
    print(f"{convert(Path(sys.argv[1]))} rows written to {FIXTURE}")
