"""The Avro schemas under schemas/: found, parsed once, checked for consistency, and their JSON form.

Layout: `schemas/<event_type_in_snake_case>/v<N>.avsc`, one self-contained record schema per event type per
published version. A published version is never edited; a change is a new version whose reader can read every
older one (fields added with defaults, nothing renamed or removed).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import fastavro
from fastavro.schema import SchemaParseException

from streams.errors import EventValidationError, SchemaError

_VERSION_FILE = re.compile(r"^v(\d+)\.avsc$")


def snake_case(type_name: str) -> str:
    """`BookingRecorded` -> `booking_recorded`: the folder that holds a type's versions."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type_name).lower()


@dataclass(frozen=True)
class Schema:
    """One version of one event type's schema."""

    type_name: str
    version: int
    raw: dict[str, Any]
    parsed: Any
    path: Path

    @property
    def label(self) -> str:
        """How errors and dead letters name this schema, e.g. 'BookingRecorded v1'."""
        return f"{self.type_name} v{self.version}"

    @cached_property
    def fingerprint(self) -> str:
        """The CRC-64-AVRO fingerprint of the schema's canonical form, hex: what the `dt-schema` header carries."""
        return fastavro.schema.fingerprint(fastavro.schema.to_parsing_canonical_form(self.raw), "CRC-64-AVRO")

    @cached_property
    def field_names(self) -> tuple[str, ...]:
        """Top-level field names, in order (worked out once: every decode checks them)."""
        return tuple(f["name"] for f in self.raw["fields"])

    @cached_property
    def required_fields(self) -> tuple[str, ...]:
        """Top-level fields without a default: an event lacking one is invalid."""
        return tuple(f["name"] for f in self.raw["fields"] if "default" not in f)


class SchemaRegistry:
    """All schemas in a folder, parsed once at start-up."""

    def __init__(self, root: Path) -> None:
        """Load every `<type>/v<N>.avsc` below `root`; raise SchemaError naming the file on any problem."""
        self.root = Path(root)
        self._versions: dict[str, dict[int, Schema]] = {}
        if not self.root.is_dir():
            raise SchemaError(f"schema folder {self.root} does not exist")
        for folder in sorted(p for p in self.root.iterdir() if p.is_dir()):
            for path in sorted(folder.glob("*.avsc")):
                schema = _load(path)
                if snake_case(schema.type_name) != folder.name:
                    raise SchemaError(f"{path}: record {schema.type_name} belongs in folder "
                                      f"{snake_case(schema.type_name)}/, not {folder.name}/")
                self._versions.setdefault(schema.type_name, {})[schema.version] = schema
        for type_name, versions in self._versions.items():
            expected = list(range(1, len(versions) + 1))
            if sorted(versions) != expected:
                raise SchemaError(f"{type_name}: versions must run v1..v{len(versions)} without gaps, "
                                  f"found {sorted(versions)}")
        if not self._versions:
            raise SchemaError(f"no schemas found below {self.root}")

    def __iter__(self) -> Iterator[Schema]:
        """Every version of every schema."""
        for versions in self._versions.values():
            yield from versions.values()

    @property
    def types(self) -> tuple[str, ...]:
        """Every event type that has a schema."""
        return tuple(self._versions)

    def latest(self, type_name: str) -> Schema:
        """The newest version of a type: what we write, and what readers resolve older data into."""
        try:
            versions = self._versions[type_name]
        except KeyError:
            raise EventValidationError(f"unknown event type {type_name!r}") from None
        return versions[max(versions)]

    def get(self, type_name: str, version: int) -> Schema | None:
        """A given version of a type, or None."""
        return self._versions.get(type_name, {}).get(version)


def _load(path: Path) -> Schema:
    match = _VERSION_FILE.match(path.name)
    if not match:
        raise SchemaError(f"{path}: schema files are named v<N>.avsc")
    try:
        raw = json.loads(path.read_text())
        parsed = fastavro.parse_schema(raw, _write_hint=True, _force=True)
    except (json.JSONDecodeError, SchemaParseException, KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{path}: {exc}") from exc
    if raw.get("type") != "record":
        raise SchemaError(f"{path}: the top level must be a record")
    return Schema(raw["name"], int(match.group(1)), raw, parsed, path)


# --- the JSON form of events -------------------------------------------------------------------------------
# JSON lines carry plain values: timestamps as ISO-8601 instants with an offset, dates as YYYY-MM-DD, bytes as
# latin-1 text, unions as the bare value. These two walkers convert between that and what fastavro takes.


def from_json(schema: Schema, obj: dict[str, Any]) -> dict[str, Any]:
    """Turn a JSON-form event into an Avro-ready record; raise EventValidationError naming the field."""
    return _walk(schema.raw, obj, {}, _parse_scalar, "")


def to_json(schema: Schema, record: dict[str, Any]) -> dict[str, Any]:
    """Turn a decoded record into its JSON form (the inverse of from_json)."""
    return _walk(schema.raw, record, {}, _format_scalar, "")


def _walk(schema: Any, value: Any, named: dict[str, Any], scalar: Any, path: str) -> Any:
    if isinstance(schema, str):
        if schema in named:
            return _walk(named[schema], value, named, scalar, path)
        return scalar(schema, value, path)
    if isinstance(schema, list):
        if value is None:
            return None
        branch = next((b for b in schema if b != "null"), None)
        return _walk(branch, value, named, scalar, path)
    kind = schema.get("type")
    if kind in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
    if kind == "record":
        if not isinstance(value, dict):
            raise EventValidationError(f"{path or 'event'}: expected an object, got {type(value).__name__}")
        out = dict(value)
        for f in schema["fields"]:
            if f["name"] in value:
                out[f["name"]] = _walk(f["type"], value[f["name"]], named, scalar, _join(path, f["name"]))
        return out
    if kind == "array":
        if not isinstance(value, list):
            raise EventValidationError(f"{path}: expected a list, got {type(value).__name__}")
        return [_walk(schema["items"], v, named, scalar, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            raise EventValidationError(f"{path}: expected an object, got {type(value).__name__}")
        return {k: _walk(schema["values"], v, named, scalar, f"{path}.{k}") for k, v in value.items()}
    return scalar(schema.get("logicalType") or kind, value, path)


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _parse_scalar(kind: str, value: Any, path: str) -> Any:
    if kind == "timestamp-millis" and isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise EventValidationError(f"{path}: {value!r} is not an ISO-8601 instant") from None
        if instant.tzinfo is None:
            raise EventValidationError(f"{path}: {value!r} has no UTC offset; instants must carry one")
        return instant
    if kind == "date" and isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise EventValidationError(f"{path}: {value!r} is not a date (YYYY-MM-DD)") from None
    if kind == "bytes" and isinstance(value, str):
        return value.encode("latin-1")
    return value


def _format_scalar(kind: str, value: Any, path: str) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return value
