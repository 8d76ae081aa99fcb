"""The simulator's OpenAPI document at `GET /api/v1/openapi.json`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from cutpro_async.testing._wire import wire
from tests.conftest import RawApi

from .schemas import PREFIX, component, errors

pytestmark = pytest.mark.anyio

METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
# The 34 endpoints of the API reference (section 2): method, path and MCP tool name.
REFERENCE = {
    ("GET", "/workspace"): "get_workspace",
    ("GET", "/balance"): "get_balance",
    ("GET", "/balance/history"): "get_balance_history",
    ("GET", "/clips"): "list_videos",
    ("DELETE", "/clips/{videoId}"): "delete_video",
    ("POST", "/videos/upload"): "start_upload",
    ("POST", "/videos/upload/complete"): "complete_upload",
    ("POST", "/clips/info"): "analyze_video",
    ("POST", "/clips"): "submit_clipping",
    ("GET", "/clips/{videoId}/submissions"): "list_submissions",
    ("GET", "/clips/{videoId}/submissions/{submissionId}"): "get_submission",
    ("DELETE", "/clips/{videoId}/submissions/{submissionId}"): "delete_submission",
    ("GET", "/clips/{videoId}/submissions/{submissionId}/clips"): "list_clips",
    ("POST", "/clips/{videoId}/submissions/{submissionId}/apply_template"): "apply_template",
    ("DELETE", "/clips/{videoId}/submissions/{submissionId}/clips/{clipId}"): "delete_clip",
    ("GET", "/templates"): "list_templates",
    ("POST", "/clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"): "render_clip",
    ("GET", "/renders"): "list_renders",
    ("GET", "/renders/limits"): "get_render_limits",
    ("GET", "/renders/{renderId}"): "get_render",
    ("GET", "/renders/{renderId}/download"): "get_render_download",
    ("DELETE", "/renders/{renderId}"): "cancel_render",
    ("POST", "/renders/bulk-download"): "start_bulk_download",
    ("GET", "/renders/bulk-download/{jobId}"): "get_bulk_download",
    ("POST", "/posts"): "create_post",
    ("GET", "/posts"): "list_posts",
    ("GET", "/posts/{id}"): "get_post",
    ("PATCH", "/posts/{id}"): "update_post",
    ("POST", "/posts/{id}/publish"): "publish_post",
    ("POST", "/posts/{id}/items/{itemId}/retry"): "retry_post_item",
    ("DELETE", "/posts/{id}/items/{itemId}"): "delete_post_item",
    ("DELETE", "/posts/{id}"): "delete_post",
    ("GET", "/connections"): "list_connections",
    ("GET", "/connections/{id}"): "get_connection",
}


@pytest.fixture
async def document(api: RawApi) -> dict[str, Any]:
    """The served document, fetched with no API key."""
    reply = await api.get("/openapi.json", key=None)
    assert reply.status == 200
    return dict(reply.json)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(METHOD, path, operation) for every operation of the document."""
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield method.upper(), path, operation


def refs(node: Any) -> Iterator[str]:
    """Every `$ref` value anywhere under `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from refs(value)


def snake(name: str) -> str:
    """camelCase to snake_case, as the MCP turns operationIds into tool names."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


async def test_openapi_is_public_3_1_with_the_34_operations(document: dict[str, Any]) -> None:
    """The document is OpenAPI 3.1.0, served without a key, with exactly the 34 endpoints."""
    assert document["openapi"] == "3.1.0"
    found = {(method, path) for method, path, _ in operations(document)}
    assert len(list(operations(document))) == 34
    assert found == set(REFERENCE)
    assert document["servers"][0]["url"].endswith("/api/v1")


async def test_operation_ids_are_unique_and_name_the_reference_tools(
    document: dict[str, Any],
) -> None:
    """Every operationId is unique and, snake_cased, is the reference's tool name."""
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)) == 34
    for method, path, op in operations(document):
        assert snake(op["operationId"]) == REFERENCE[method, path]


async def test_every_ref_resolves_into_components(document: dict[str, Any]) -> None:
    """Every `$ref` points at an existing `components.schemas` entry."""
    schemas = document["components"]["schemas"]
    found = list(refs(document))
    assert found
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


async def test_path_parameters_are_declared(document: dict[str, Any]) -> None:
    """Each `{param}` of a path is a required path parameter of its operations."""
    for _, path, op in operations(document):
        declared = {p["name"] for p in op["parameters"] if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), path
        assert all(p["required"] for p in op["parameters"] if p["in"] == "path")


async def test_document_passes_the_openapi_validator(document: dict[str, Any]) -> None:
    """The document validates as OpenAPI 3.1 with `openapi-spec-validator`."""
    validator = pytest.importorskip("openapi_spec_validator")
    validator.validate(document)


async def test_render_clip_documents_the_cache_hit(document: dict[str, Any]) -> None:
    """`renderClip` documents both answers of the reference: 202 queued and 200 from cache."""
    path = "/clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render"
    responses = document["paths"][path]["post"]["responses"]
    assert {"200", "202"} <= set(responses)


def response_components(doc: dict[str, Any]) -> set[str]:
    """Every component an answer uses, directly or nested."""
    todo = [
        ref.removeprefix(PREFIX) for _, _, op in operations(doc) for ref in refs(op["responses"])
    ]
    found: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in found:
            found.add(name)
            todo += [ref.removeprefix(PREFIX) for ref in refs(component(doc, name))]
    return found


async def test_every_answer_schema_has_an_example_that_fits_it(document: dict[str, Any]) -> None:
    """Each schema used by an answer has an `example`, valid against it with no extra key."""
    names = response_components(document)
    assert {"ErrorBody", "Pagination", "Submission", "RenderLimits", "PostItem"} <= names
    for name in sorted(names):
        schema = component(document, name)
        assert "example" in schema, name
        assert errors(document, schema, schema["example"]) == [], name


async def test_answer_objects_document_every_key_they_require(document: dict[str, Any]) -> None:
    """Every `required` name of a schema is one of its properties (no typo hides a key)."""
    for name, schema in document["components"]["schemas"].items():
        assert set(schema.get("required", [])) <= set(schema.get("properties", {})), name


async def test_timestamps_are_date_time_strings(document: dict[str, Any]) -> None:
    """Fields named `*_at` are documented as `date-time` strings (maybe null)."""
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        for field, prop in schema.get("properties", {}).items():
            if field.endswith("_at"):
                branches = prop.get("anyOf", [prop])
                assert {"type": "string", "format": "date-time"} in branches, (name, field)
                checked += 1
    assert checked >= 15


async def test_answers_cannot_drift_from_the_schema() -> None:
    """The simulator builds answers through its schemas: an unknown or missing key is refused,
    and keys go out in the schema's order."""
    with pytest.raises(KeyError):
        wire("Balance", balance=1, bonus=2)
    with pytest.raises(KeyError):
        wire("Timeframe", start=0)
    assert list(wire("Timeframe", end=2, start=1)) == ["start", "end"]
