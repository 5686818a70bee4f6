"""`detainer-tracker schema [TYPE]`: what an event (or output) is made of, as a jail integrator needs to write it.

Without a type: every type, its topic and its newest version. With one: each field of the JSON form `produce`
reads (nested records expanded), its type in plain words (text, integer, an instant, one of the allowed values),
whether it may be left out (and what it then is), and what it means.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from streams.errors import ConfigError
from streams.wire.codec import Codec
from streams.wire.jsonlines import ALWAYS_GIVEN
from streams.wire.schemas import Schema
from streams.wire.topics import CASE_INPUTS


def fields(schema: Schema) -> list[dict[str, Any]]:
    """The fields of a schema, nested ones named by path (`charges[].statute`), each with its type in words."""
    named: dict[str, Any] = {}
    out: list[dict[str, Any]] = []
    _record(schema.raw, "", named, out)
    return out


def _record(record: dict[str, Any], prefix: str, named: dict[str, Any], out: list[dict[str, Any]]) -> None:
    named[record["name"]] = record
    for f in record["fields"]:
        path = f"{prefix}{f['name']}"
        kind, nested, optional = _kind(f["type"], named)
        entry = {"field": path, "type": kind, "required": "default" not in f and not optional,
                 "doc": f.get("doc", "")}
        if "default" in f:
            entry["default"] = f["default"]
        out.append(entry)
        if nested is not None:
            _record(nested, f"{path}[]." if kind.startswith("list") else f"{path}.", named, out)


def _kind(t: Any, named: dict[str, Any]) -> tuple[str, dict[str, Any] | None, bool]:
    """A type in words, the record it holds (to expand), and whether null is allowed."""
    if isinstance(t, list):
        rest = [x for x in t if x != "null"]
        kind, nested, _ = _kind(rest[0] if len(rest) == 1 else rest, named) if rest else ("null", None, True)
        return (kind, nested, "null" in t) if len(rest) <= 1 else (" or ".join(_kind(x, named)[0] for x in rest),
                                                                   None, "null" in t)
    if isinstance(t, str):
        if t in named:
            again = named[t]
            return (f"one of {', '.join(again['symbols'])}" if again.get("type") == "enum" else f"record {t}",
                    None, False)
        return {"string": "text", "int": "integer", "long": "integer", "boolean": "true or false",
                "double": "number", "float": "number", "bytes": "bytes"}.get(t, t), None, False
    logical = t.get("logicalType")
    if logical in ("timestamp-millis", "timestamp-micros"):
        return "instant (ISO 8601 with an offset, e.g. 2019-06-01T08:00:00-07:00)", None, False
    if logical == "date":
        return "date (YYYY-MM-DD)", None, False
    if t["type"] == "enum":
        named[t["name"]] = t
        return f"one of {', '.join(t['symbols'])}", None, False
    if t["type"] == "array":
        items = t["items"]
        if isinstance(items, dict) and items.get("type") == "record":
            return f"list of {items['name']}", items, False
        kind, nested, _ = _kind(items, named)
        return f"list of {kind.removeprefix('record ')}", nested, False
    if t["type"] == "map":
        return f"map of text to {_kind(t['values'], named)[0]}", None, False
    if t["type"] == "record":
        return f"record {t['name']}", t, False
    return str(t["type"]), None, False


def write(codec: Codec, type_name: str | None, as_json: bool, out: TextIO, version: int | None = None) -> None:
    """The list of types, or one type's fields, as text or JSON."""
    registry = codec.registry
    if type_name is None:
        rows = [{"type": t, "topic": _topic(codec, t), "version": registry.latest(t).version}
                for t in sorted(registry.types)]
        if as_json:
            out.write(json.dumps(rows, indent=1) + "\n")
            return
        for r in rows:
            out.write(f"{r['type']:<28} v{r['version']:<3} {r['topic']}\n")
        return
    if type_name not in registry.types:
        raise ConfigError(f"no event or output type {type_name!r}; `detainer-tracker schema` lists them")
    schema = registry.latest(type_name) if version is None else registry.get(type_name, version)
    if schema is None:
        raise ConfigError(f"{type_name} has no version {version} (newest: {registry.latest(type_name).version})")
    found = fields(schema)
    for f in found:
        if f["field"] in ALWAYS_GIVEN.get(type_name, ()):  # produce and decide refuse a line without it
            f["required"] = True
            f.pop("default", None)
    if as_json:
        out.write(json.dumps({"type": type_name, "version": schema.version, "topic": _topic(codec, type_name),
                              "doc": schema.raw.get("doc", ""), "fields": found}, indent=1) + "\n")
        return
    out.write(f"{type_name} v{schema.version} on {_topic(codec, type_name)}: {schema.raw.get('doc', '')}\n")
    if schema.version > 1:
        out.write(f"(older versions 1-{schema.version - 1} are still read)\n")
    out.write("\n")
    for f in found:
        need = "required" if f["required"] else f"optional (default {json.dumps(f.get('default'))})"
        out.write(f"  {f['field']:<34} {f['type']}\n  {'':<34} {need}{'; ' + f['doc'] if f['doc'] else ''}\n")
    if type_name in codec.topics.event_types and codec.topics.for_event(type_name).spec.id in CASE_INPUTS:
        out.write(f"\nOne JSON line of it for produce or decide: {{\"type\": \"{type_name}\", ...the fields}}\n")


def _topic(codec: Codec, type_name: str) -> str:
    try:
        return codec.topics.for_event(type_name).name
    except ConfigError:  # a type no topic carries
        return "-"
