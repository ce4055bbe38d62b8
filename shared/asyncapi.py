"""The AsyncAPI 3.0 document of every event the platform publishes, generated from the payload models.

Discovery follows the house rule that an event type is a module constant next to its payload model:
in ``contracts/*.py`` and every ``services/<svc>/**/events.py``, a constant whose value looks like
``<service>.<aggregate>.<verb>`` pairs with the model named ``AggregateVerb`` (or
``ServiceAggregateVerb``; case and underscores aside). An event type without such a model is an
error, so nothing is left out.

The generated document is committed (``contracts/asyncapi.json``) and served by the gateway; a test
regenerates it and fails when an event changed without it (``govperf asyncapi`` rewrites it)."""

from __future__ import annotations

import datetime as dt
import importlib
import json
import pkgutil
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from shared.events import CloudEvent

EVENT_TYPE_RE = re.compile(r"^[a-z0-9_]+\.[a-z0-9_]+\.[a-z0-9_]+$")
DOCUMENT_PATH = Path(__file__).resolve().parent.parent / "contracts" / "asyncapi.json"
SCHEMA_REF = "#/components/schemas/{model}"

# Fixed example values: the document must be byte-for-byte reproducible.
EXAMPLE_UUID = "0195f0a0-0000-7000-8000-000000000001"
EXAMPLE_TIME = "2027-01-31T08:00:00Z"
EXAMPLE_DATE = "2027-01-31"
KNOWN_PATTERNS = {
    r"^[0-9a-f]{64}$": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
}


class CatalogError(ValueError):
    pass


def _camel(*parts: str) -> str:
    return "".join(word.capitalize() for part in parts for word in part.split("_"))


def _key(*parts: str) -> str:
    return "".join(parts).replace("_", "").lower()


def _event_modules() -> Iterator[ModuleType]:
    contracts = importlib.import_module("contracts")
    for info in pkgutil.iter_modules(contracts.__path__):
        yield importlib.import_module(f"contracts.{info.name}")
    services = importlib.import_module("services")
    for info in pkgutil.walk_packages(services.__path__, prefix="services."):
        if info.name.rsplit(".", 1)[-1] == "events":
            yield importlib.import_module(info.name)


def catalog() -> dict[str, type[BaseModel]]:
    """Every event type and its payload model, sorted by type."""
    found: dict[str, type[BaseModel]] = {}
    for module in _event_modules():
        for name, value in vars(module).items():
            if not (name.isupper() and isinstance(value, str) and EVENT_TYPE_RE.fullmatch(value)):
                continue
            service, aggregate, verb = value.split(".")
            if module.__name__.startswith("services.") and module.__name__.split(".")[1] != f"{service}_svc":
                continue  # a consumer's reading of another service's event; the producer's model is the contract
            # Compared without case or underscores: orgunit.changed pairs with OrgUnitChanged.
            wanted = {_key(aggregate, verb), _key(service, aggregate, verb)}
            models = [
                m
                for m in vars(module).values()
                if isinstance(m, type) and issubclass(m, BaseModel) and _key(m.__name__) in wanted
            ]
            if not models:
                raise CatalogError(
                    f"{module.__name__}.{name} = {value!r} has no payload model {_camel(aggregate, verb)} "
                    f"or {_camel(service, aggregate, verb)}"
                )
            model = models[0]
            if found.setdefault(value, model) is not model:
                raise CatalogError(f"{value} has two payload models: {found[value].__name__} and {model.__name__}")
    return dict(sorted(found.items()))


# --- examples ----------------------------------------------------------------------------


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _string_example(schema: dict[str, Any]) -> str:
    fmt, pattern = schema.get("format"), schema.get("pattern")
    if fmt == "uuid":
        return EXAMPLE_UUID
    if fmt == "date-time":
        return EXAMPLE_TIME
    if fmt == "date":
        return EXAMPLE_DATE
    if pattern in KNOWN_PATTERNS:
        return KNOWN_PATTERNS[pattern]
    length = max(int(schema.get("minLength", 1)), 1)
    for candidate in ("example", "/gd/sz", "A", "1.0", "a" * length):
        if len(candidate) >= length and (pattern is None or re.search(pattern, candidate)):
            return candidate
    return "a" * length


def example_of(schema: dict[str, Any], defs: dict[str, Any]) -> Any:
    """A small value valid for ``schema``: defaults and first choices, empty lists, fixed ids."""
    schema = _resolve(schema, defs)
    if "default" in schema:
        return schema["default"]
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [o for o in schema[key] if _resolve(o, defs).get("type") != "null"] or schema[key]
            return example_of(options[0], defs)
    if "allOf" in schema:
        return example_of(schema["allOf"][0], defs)
    kind = schema.get("type")
    if kind == "object":
        required = set(schema.get("required", ()))
        return {
            name: example_of(prop, defs)
            for name, prop in schema.get("properties", {}).items()
            if name in required or "default" not in _resolve(prop, defs)
        }
    if kind == "array":
        items = schema.get("prefixItems") or [schema.get("items", {})] * int(schema.get("minItems", 0))
        return [example_of(item, defs) for item in items][: max(int(schema.get("minItems", 0)), len(items))]
    if kind == "string":
        return _string_example(schema)
    if kind == "integer":
        # The smallest legal count (0 items, version 1) keeps counts consistent with empty lists.
        if "minimum" in schema:
            return int(schema["minimum"])
        return int(schema["exclusiveMinimum"]) + 1 if "exclusiveMinimum" in schema else 1
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        if (low is None or low < 1) and (high is None or high > 1):
            return 1
        return low if low is not None else high
    if kind == "boolean":
        return False
    return None


# --- the document ------------------------------------------------------------------------


def build_document(events: dict[str, type[BaseModel]] | None = None) -> dict[str, Any]:
    events = catalog() if events is None else events
    _, top = models_json_schema(
        [(model, "validation") for model in dict.fromkeys(events.values())], ref_template=SCHEMA_REF
    )
    schemas: dict[str, Any] = dict(sorted(top.get("$defs", {}).items()))
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_type, model in events.items():
        key = event_type.replace(".", "_")
        payload = example_of({"$ref": SCHEMA_REF.format(model=model.__name__)}, schemas)
        try:
            model.model_validate(payload)
        except ValidationError as exc:
            raise CatalogError(f"cannot build a valid example of {event_type}: {exc}") from None
        envelope = CloudEvent(
            id=uuid.UUID(EXAMPLE_UUID),
            source=f"govperf/{event_type.split('.')[0]}",
            type=event_type,
            subject=EXAMPLE_UUID,
            time=dt.datetime(2027, 1, 31, 8, tzinfo=dt.UTC),
            data=payload,
        )
        messages[key] = {
            "name": event_type,
            "title": model.__name__,
            "summary": (model.__doc__ or event_type).strip().splitlines()[0],
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "= the envelope id (dedup)."}},
            },
            "payload": {
                "type": "object",
                "description": "CloudEvents 1.0 envelope (structured JSON); `data` is the event's payload.",
                "required": ["specversion", "id", "source", "type", "time", "data"],
                "properties": {
                    "specversion": {"const": "1.0"},
                    "id": {"type": "string", "format": "uuid"},
                    "source": {"type": "string"},
                    "type": {"const": event_type},
                    "subject": {"type": "string", "description": "The aggregate id (the ordering key)."},
                    "time": {"type": "string", "format": "date-time"},
                    "datacontenttype": {"const": "application/json"},
                    "data": {"$ref": SCHEMA_REF.format(model=model.__name__)},
                },
            },
            "examples": [{"name": "example", "payload": envelope.model_dump(mode="json")}],
        }
        channels[key] = {
            "address": f"govperf.{event_type}",
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"publish_{key}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "messages": [{"$ref": f"#/channels/{key}/messages/{key}"}],
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "govperf events",
            "version": "1.0.0",
            "description": (
                "Every event the govperf services publish to NATS JetStream (stream GOVPERF), delivered "
                "at least once with Nats-Msg-Id for de-duplication. Names and fields are binding once "
                "published: fields are added, never renamed."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {"nats": {"host": "nats:4222", "protocol": "nats", "description": "NATS JetStream, stream GOVPERF"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas},
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=False, ensure_ascii=False) + "\n"


def write_document(path: Path = DOCUMENT_PATH) -> Path:
    path.write_text(render(build_document()), encoding="utf-8")
    return path
