"""Valid example records for any schema, built from the schema itself (so every event type is covered)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from streams.wire.schemas import Schema

INSTANT = datetime(2019, 2, 5, 18, 0, tzinfo=UTC)
DAY = date(2006, 2, 1)


def example_record(schema: Schema, key: str = "B-1", n: int = 1) -> dict[str, Any]:
    """A record with every field set to a plausible value; the key fields get `key`."""
    return _value(schema.raw, {}, "", key, n)


def _value(t: Any, named: dict[str, Any], name: str, key: str, n: int) -> Any:
    if isinstance(t, str):
        if t in named:
            return _value(named[t], named, name, key, n)
        return _primitive(t, name, key, n)
    if isinstance(t, list):
        return _value(next(b for b in t if b != "null"), named, name, key, n)
    kind = t["type"]
    if kind in ("record", "enum"):
        named[t["name"]] = t
    if kind == "record":
        return {f["name"]: _value(f["type"], named, f["name"], key, n) for f in t["fields"]}
    if kind == "enum":
        return t["symbols"][n % len(t["symbols"])]
    if kind == "array":
        return [_value(t["items"], named, name, key, n)]
    if kind == "map":
        return {"k": _value(t["values"], named, name, key, n)}
    if t.get("logicalType") == "timestamp-millis":
        return INSTANT
    if t.get("logicalType") == "date":
        return DAY
    return _value(kind, named, name, key, n)


def _primitive(t: str, name: str, key: str, n: int) -> Any:
    if t == "string":
        if name in ("booking_id", "query_id", "agency_id"):
            return key
        return f"{name}-{n}"
    return {"int": n, "long": n, "boolean": True, "bytes": b"\x00\x01raw", "double": 1.5, "float": 1.5}[t]

def named_types(schema: Schema) -> dict[str, Any]:
    """Every record and enum a schema defines inside its fields, by name."""
    found: dict[str, Any] = {}

    def walk(t):
        if isinstance(t, list):
            for b in t:
                walk(b)
        elif isinstance(t, dict):
            if t.get("type") in ("record", "enum"):
                found[t["name"]] = t
            for f in t.get("fields", []):
                walk(f["type"])
            for k in ("items", "values"):
                if k in t:
                    walk(t[k])

    for f in schema.raw["fields"]:
        walk(f["type"])
    return found
