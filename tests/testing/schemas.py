"""Reading the simulator's OpenAPI document in tests: `$ref`s, strict validators, answers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

PREFIX = "#/components/schemas/"


def component(doc: dict[str, Any], name: str) -> dict[str, Any]:
    """One component schema of the document."""
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, with a `$ref` followed to its component."""
    while "$ref" in schema:
        schema = component(doc, schema["$ref"].removeprefix(PREFIX))
    return schema


def alternatives(doc: dict[str, Any], schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The resolved non-null branches of a schema (`anyOf` unrolled)."""
    schema = resolve(doc, schema)
    branches = schema.get("anyOf", [schema])
    return [resolve(doc, b) for b in branches if b.get("type") != "null"]


def allows_null(doc: dict[str, Any], schema: dict[str, Any]) -> bool:
    """Whether `null` is a valid value of `schema`."""
    schema = resolve(doc, schema)
    return any(b.get("type") == "null" for b in schema.get("anyOf", [schema]))


def _close(node: Any) -> None:
    """Forbid properties an object schema does not name, everywhere under `node`."""
    if isinstance(node, dict):
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close(value)
    elif isinstance(node, list):
        for value in node:
            _close(value)


def validator(doc: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A JSON Schema (2020-12) validator of `schema` that also refuses undocumented keys.

    The served document stays open to additions (clients must ignore unknown keys); tests
    close it, so the simulator can only send what its document names.
    """
    jsonschema = pytest.importorskip("jsonschema")
    components = copy.deepcopy(doc["components"])
    root = copy.deepcopy(schema)
    _close(components)
    _close(root)
    cls = jsonschema.Draft202012Validator
    return cls({**root, "components": components}, format_checker=cls.FORMAT_CHECKER)


def errors(doc: dict[str, Any], schema: dict[str, Any], value: Any) -> list[str]:
    """What is wrong with `value` against `schema` (empty when it validates)."""
    found = validator(doc, schema).iter_errors(value)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in found]


def answer_schema(
    doc: dict[str, Any], method: str, path: str, status: int
) -> dict[str, Any] | None:
    """The documented JSON schema of an answer (None: documented without a body)."""
    responses = doc["paths"][path][method.lower()]["responses"]
    response = responses.get(str(status)) if status < 400 else responses["default"]
    assert response is not None, f"{method} {path} does not document status {status}"
    content = response.get("content")
    return None if content is None else dict(content["application/json"]["schema"])
