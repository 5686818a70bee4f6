"""`detainer-tracker decide` as an auditor runs it: a file in, JSON lines out, bad lines reported, no broker."""

import json
import subprocess
import sys

from tests.scenarios.loader import CASES, load


def test_decide_cli_on_a_scenario_file_with_a_bad_line(tmp_path):
    scenario = load(CASES / "s09_values_act_no_qualifying_history_no_hold_no_notice_no_transfer.yaml")
    lines = scenario.jsonl().splitlines()
    lines.insert(2, '{"type": "DetainerLodged", "booking_id": "S09"}')
    path = tmp_path / "case.jsonl"
    path.write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "streams.cli", "decide", str(path), "--until",
                             "2018-05-16T00:00:00-07:00"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "line 3:" in result.stderr and "missing required field" in result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == len(scenario.expect)
    assert outputs[0]["effective_at"] == "2018-05-14T13:00:00-07:00"  # local time with the offset
    assert {o["type"] for o in outputs} == {"Decision", "TruthActNotice", "CustodyCommand"}


def test_a_broken_rule_book_stops_decide_naming_the_file(tmp_path):
    import shutil

    from streams.core.law.rulebook import DATA_DIR

    rules = tmp_path / "rules"
    shutil.copytree(DATA_DIR, rules)
    (rules / "forms.yaml").write_text("forms: {I247A: {requests: [HOLD]}}\n")
    (tmp_path / "e.jsonl").write_text("")
    result = subprocess.run([sys.executable, "-m", "streams.cli", "decide", str(tmp_path / "e.jsonl"), "--rules",
                             str(rules)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert f"{rules}/forms.yaml: I247A:" in result.stderr
