import re
import shutil
from pathlib import Path

import pytest

from streams.core import clets
from streams.core.law import rulebook
from streams.errors import RuleBookError

STREAMS = Path(__file__).parents[4] / "streams"


def test_the_shipped_rule_book_loads():
    book = rulebook.load()
    assert set(book.forms) == set(rulebook.FORM_IDS)
    assert [r.id for r in book.jurisdiction("CA").regimes] == ["CA_PRE_TRUST", "CA_TRUST", "CA_VALUES"]
    assert len(book.categories) == 31  # (A) to (AE)
    assert all(rule.citation for rule in book.rules.values())
    assert clets.load_rows()[-1].id == "clets.no-rule"


def test_every_rule_the_code_names_is_in_the_rule_book():
    book = rulebook.load()
    named = set()
    for path in STREAMS.rglob("*.py"):
        named |= set(re.findall(r'"((?:release|hold|notify|transfer|civil-arrest|status|personal-info|'
                                r'criminal-history|interview|truth|violation)\.[a-z0-9.-]+)"', path.read_text()))
    assert len(named) > 30
    assert named - set(book.rules) == set()


def _broken(tmp_path, file, old, new):
    root = tmp_path / "rules"
    shutil.copytree(rulebook.DATA_DIR, root)
    text = (root / file).read_text()
    assert old in text
    (root / file).write_text(text.replace(old, new, 1))
    return root


@pytest.mark.parametrize(("file", "old", "new", "message"), [
    ("regimes.yaml", 'to: "2018-01-01T00:00:00-08:00"', 'to: "2018-01-02T00:00:00-08:00"',
     r"regimes.yaml: CA/CA_VALUES: must start exactly when CA_TRUST ends"),
    ("regimes.yaml", "zone: America/Los_Angeles", "zone: America/Atlantis", r"regimes.yaml: CA: unknown time zone"),
    ("forms.yaml", "    hold_clock: business\n", "", r"forms.yaml: I247_LEGACY: a form that asks for a hold needs"),
    ("offenses.yaml", '"PC 217.1"', '"assault 217.1"', r"offenses.yaml: offenses/assault 217.1: not a statute"),
    ("offenses.yaml", '"PC 217.1": {categories: [A]', '"PC 217.1": {categories: [AF]',
     r"offenses.yaml: offenses/PC 217.1: unknown categor\(ies\) AF"),
    ("offenses.yaml", '"PC 217.1": {categories: [A], sources: [gov-7282.5]',
     '"PC 217.1": {categories: [A], sources: [a-blog]', r"offenses.yaml: offenses/PC 217.1: sources must name"),
    ("offenses.yaml", '"PC 217.1": {categories: [A], sources: [gov-7282.5]', '"PC 217.1": {categories: [A]',
     r"offenses.yaml: offenses/PC 217.1: sources must name"),
    ("offenses.yaml", 'serious: "PC 1192.7(c)(19)"', 'serious: "yes"',
     r"offenses.yaml: offenses/PC 211: serious must cite a clause of PC 1192.7\(c\)"),
    ("offenses.yaml", 'categories: [F], sentencing: STATE_PRISON', 'categories: [F], sentencing: COUNTY_JAIL',
     r"offenses.yaml: offenses/PC 211: a serious or violent felony is never sentenced under PC 1170\(h\)"),
    ("offenses.yaml", 'categories: [F], sentencing: STATE_PRISON',
     'categories: [F], serious_in_part: true, sentencing: STATE_PRISON',
     r"offenses.yaml: offenses/PC 211: serious_in_part is for a section the entry does not call serious or violent"),
    ("offenses.yaml", '"PC 286": {name: "sodomy", serious_in_part: true',
     '"PC 286": {name: "sodomy", serious_in_part: 1',
     r"offenses.yaml: offenses/PC 286: serious_in_part must be true or false"),
    ("offenses.yaml", '"PC 217.1": {categories', '"PC 217.1": {felony: true, categories',
     r"offenses.yaml: offenses/PC 217.1: unknown field\(s\) felony"),
    ("offenses.yaml", "    checked: \"the list's opening page", "    seen: \"the list's opening page",
     r"offenses.yaml: sources/pc-1170h: needs a title and what it was checked against"),
    ("carve_outs.yaml", "A: {name: Assault}", 'A: {name: Assault, sections: ["PC 240"]}',
     r"carve_outs.yaml: categories/A: the sections a category names belong in offenses.yaml"),
    ("rules.yaml", '    citation: "Gov. Code 7282(b)"\n', "",
     r"rules.yaml: release.eligible: every rule needs a citation"),
    ("rules.yaml", '      FED_BASE: {citation: "8 CFR 287.7(a), (d)"',
     '      WA_STATE: {citation: "8 CFR 287.7(a), (d)"',
     r"rules.yaml: release.eligible/by_regime/WA_STATE: a regime of"),
    ("policies.yaml", "forbids: [HOLD]", "forbids: [EVERYTHING]", r"policies.yaml: policies/santa-clara-2011: forbids"),
    ("calendar.yaml", '- {date: "2007-01-02"', '- {date: "2007-13-02"', r"calendar.yaml: one_off_closures/"),
])
def test_a_broken_rule_book_names_the_file_and_the_entry(tmp_path, file, old, new, message):
    root = _broken(tmp_path, file, old, new)
    with pytest.raises(RuleBookError, match=message):
        rulebook.load(root)


def test_invalid_yaml_is_reported_with_the_file(tmp_path):
    root = _broken(tmp_path, "forms.yaml", "forms:", "forms: [")
    with pytest.raises(RuleBookError, match="forms.yaml: not valid YAML"):
        rulebook.load(root)


def test_a_clets_row_with_an_unknown_purpose_stops_loading(tmp_path):
    root = _broken(tmp_path, "clets.yaml", "purposes: [NOT_OFFICIAL_BUSINESS]", "purposes: [SNOOPING]")
    with pytest.raises(RuleBookError, match=r"clets.yaml: clets.not-official: unknown purposes \['SNOOPING'\]"):
        clets.load_rows(root)
