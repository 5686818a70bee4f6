"""A TRUTH Act copy of a request answers each part of it: the jail that will never hold says so for the hold part,
even where it will give the release date (Gov. Code 7283.1(a))."""

import io
import json

import pytest

from streams.tools.decide import decide_file
from tests.scenarios.loader import load_all

SCENARIOS = {s.law: s for s in load_all() if s.law != "extra"}


def _copies(scenario, codec):
    out = io.StringIO()
    decide_file(io.StringIO(scenario.jsonl()), out, codec, until=scenario.until)
    return [o for o in map(json.loads, out.getvalue().splitlines())
            if o["type"] == "TruthActNotice" and o["kind"] == "REQUEST_COPY"]


@pytest.mark.parametrize(("law", "parts"), [
    # Values Act, serious-felony prior, I-247A: no hold ever; the release date may be given, the person handed over
    ("S11", [("HOLD", False), ("NOTIFY", True), ("TRANSFER", True)]),
    # Values Act, held to answer on a serious felony: notification only (7282.5(b) does not reach a transfer)
    ("S12", [("HOLD", False), ("NOTIFY", True), ("TRANSFER", False)]),
    # Values Act, no qualifying history: nothing
    ("S09", [("HOLD", False), ("NOTIFY", False), ("TRANSFER", False)]),
])
def test_each_part_of_the_request_gets_its_own_answer(codec, law, parts):
    copies = _copies(SCENARIOS[law], codec)
    assert copies, f"{law} gives no request copy"
    for copy in copies:
        assert [(p["request"], p["will_comply"]) for p in copy["parts"]] == parts
        assert copy["will_comply"] is any(comply for _, comply in parts)
