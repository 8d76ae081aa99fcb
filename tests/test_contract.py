"""The contract: the client's models held against the simulator's own OpenAPI document.

The simulator writes its schemas without looking at the client (see
`tests/testing/test_independence.py`); here, and only here, the two meet. A client model that
reads a key the document lacks, needs a key the document leaves optional, refuses a `null` the
document allows or expects another JSON type fails below.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from cutpro_async import models as m
from cutpro_async._converter import structure, unstructure
from tests.conftest import RawApi
from tests.testing.schemas import allows_null, alternatives, component, errors

pytestmark = pytest.mark.anyio

# Component name -> the client model that reads that answer.
RESPONSE_MODELS: dict[str, type] = {
    "Pagination": m.Pagination,
    "ErrorBody": m.ErrorBody,
    "Workspace": m.Workspace,
    "Balance": m.Balance,
    "Transaction": m.Transaction,
    "TransactionPage": m.TransactionPage,
    "Video": m.Video,
    "VideoPage": m.VideoPage,
    "VideoInfo": m.VideoInfo,
    "UploadTicket": m.UploadTicket,
    "Timeframe": m.Timeframe,
    "SubmissionCreated": m.SubmissionCreated,
    "Submission": m.Submission,
    "SubmissionPage": m.SubmissionPage,
    "Clip": m.Clip,
    "ClipPage": m.ClipPage,
    "TemplateApplied": m.TemplateApplied,
    "Template": m.Template,
    "TemplatePage": m.TemplatePage,
    "RenderCreated": m.RenderCreated,
    "Render": m.Render,
    "RenderPage": m.RenderPage,
    "RenderUsage": m.RenderUsage,
    "RenderPlan": m.RenderPlan,
    "RenderLimits": m.RenderLimits,
    "DownloadLink": m.DownloadLink,
    "BulkDownloadCreated": m.BulkDownloadCreated,
    "BulkDownload": m.BulkDownload,
    "PostCreated": m.PostCreated,
    "PostItem": m.PostItem,
    "Post": m.Post,
    "PostPage": m.PostPage,
    "Connection": m.Connection,
    "ConnectionPage": m.ConnectionPage,
}
NOON = datetime(2026, 7, 15, 12, tzinfo=UTC)
METADATA = {"tiktok": {"title": "Hi", "privacyLevel": "PUBLIC_TO_EVERYONE"}}
# Component name -> bodies the client sends there: every field set, then the fewest.
REQUEST_BODIES: dict[str, list[Any]] = {
    "AnalyzeRequest": [m.AnalyzeRequest("https://www.youtube.com/watch?v=x")],
    "StartUploadRequest": [
        m.StartUploadRequest("a.mov", 1024, "video/quicktime"),
        m.StartUploadRequest("a.mp4", 1024),
    ],
    "CompleteUploadRequest": [m.CompleteUploadRequest("v1", "a.mp4", 90.5, 1920, 1080)],
    "SubmitRequest": [
        m.SubmitRequest("v1", m.SourceLanguage.PT, "st1", m.Timeframe(0, 60.5), "t1"),
        m.SubmitRequest("v1"),
    ],
    "ApplyTemplateRequest": [m.ApplyTemplateRequest("t1", ["c1"]), m.ApplyTemplateRequest("t1")],
    "BulkDownloadRequest": [m.BulkDownloadRequest(["r1", "r2"])],
    "CreatePostRequest": [
        m.CreatePostRequest([m.PostVideo("e1", [m.PostTarget("cn1", METADATA)])], NOON),
        m.CreatePostRequest([m.PostVideo("e1", [m.PostTarget("cn1")])]),
    ],
    "UpdatePostRequest": [
        m.UpdatePostRequest(NOON, [{"id": "pi1", "metadata": METADATA}]),
        m.UpdatePostRequest(),
    ],
}
# Components the client has no model of, and why.
NO_CLIENT_MODEL = {
    "Deleted": "the client takes any answer of a delete (204, or 200 with a body)",
    "PostTarget": "read only inside CreatePostRequest",
    "PostVideo": "read only inside CreatePostRequest",
    "PostItemChange": "the client sends post item changes as plain dicts",
}
# JSON Schema types a client field of each Python type can take without loss.
SCALARS: dict[Any, set[str]] = {
    str: {"string"},
    bool: {"boolean"},
    int: {"integer"},
    float: {"number", "integer"},
}


@pytest.fixture
async def document(api: RawApi) -> dict[str, Any]:
    """The document the simulator serves."""
    reply = await api.get("/openapi.json", key=None)
    assert reply.status == 200
    return dict(reply.json)


def _without_none(kind: Any) -> tuple[Any, bool]:
    """(`kind` without `None`, whether `None` was allowed); other unions are left unchecked."""
    args = typing.get_args(kind)
    if typing.get_origin(kind) not in (types.UnionType, typing.Union) or type(None) not in args:
        return kind, False
    rest = [arg for arg in args if arg is not type(None)]
    return (rest[0] if len(rest) == 1 else object), True


def _type_mismatches(
    doc: dict[str, Any], kind: Any, prop: dict[str, Any], at: str
) -> Iterator[str]:
    """Where a client type and a schema (its non-null branches) disagree."""
    branches = alternatives(doc, prop)
    origin = typing.get_origin(kind)
    if attrs.has(kind):
        objects = [b for b in branches if "properties" in b]
        if not objects:
            yield f"{at}: the client reads an object, the schema has {branches}"
        for branch in objects:
            yield from mismatches(doc, kind, branch, at)
    elif origin is list:
        arrays = [b for b in branches if b.get("type") == "array"]
        if not arrays:
            yield f"{at}: the client reads a list, the schema has {branches}"
        for branch in arrays:
            yield from _type_mismatches(doc, typing.get_args(kind)[0], branch["items"], f"{at}[]")
    elif kind is datetime:
        if any(b.get("format") != "date-time" for b in branches):
            yield f"{at}: the client reads a datetime, the schema has {branches}"
    elif isinstance(kind, type) and issubclass(kind, enum.Enum):
        if any(b.get("type") != "string" for b in branches):
            yield f"{at}: the client reads a string enum, the schema has {branches}"
    elif kind in SCALARS:
        found = sorted(str(b.get("type")) for b in branches)
        if not set(found) <= SCALARS[kind]:
            yield f"{at}: the client reads {kind.__name__}, the schema has {found}"
    # dict / Any fields take any object: nothing to hold them to.


def mismatches(doc: dict[str, Any], cls: type, schema: dict[str, Any], at: str) -> Iterator[str]:
    """Every way the fields `cls` reads disagree with the object `schema`, recursively."""
    hints = typing.get_type_hints(cls)
    properties, required = schema.get("properties", {}), set(schema.get("required", []))
    for field in attrs.fields(cls):
        where = f"{at}.{field.name}"
        if field.name not in properties:
            yield f"{where}: the client reads it, the schema has no such property"
            continue
        kind, nullable = _without_none(hints[field.name])
        prop = properties[field.name]
        if field.default is attrs.NOTHING and field.name not in required:
            yield f"{where}: the client requires it, the schema leaves it optional"
        if allows_null(doc, prop) and not nullable:
            yield f"{where}: the schema allows null, the client does not"
        yield from _type_mismatches(doc, kind, prop, where)


def _subset(kept: Any, sent: Any) -> bool:
    """Whether every value the client kept equals what was sent (extra sent keys allowed)."""
    if isinstance(kept, dict):
        return isinstance(sent, dict) and all(
            k in sent and _subset(v, sent[k]) for k, v in kept.items()
        )
    if isinstance(kept, list):
        return isinstance(sent, list) and all(map(_subset, kept, sent)) and len(kept) == len(sent)
    return bool(kept == sent)


async def test_every_component_is_held_against_the_client(document: dict[str, Any]) -> None:
    """Each schema of the document is in exactly one table here: none escapes the contract."""
    tables = [set(RESPONSE_MODELS), set(REQUEST_BODIES), set(NO_CLIENT_MODEL)]
    assert set().union(*tables) == set(document["components"]["schemas"])
    assert sum(map(len, tables)) == len(document["components"]["schemas"])


@pytest.mark.parametrize("name", sorted(RESPONSE_MODELS))
async def test_client_model_reads_the_example(document: dict[str, Any], name: str) -> None:
    """The client's model parses the document's example and keeps every value it reads."""
    example = component(document, name)["example"]
    model: Any = structure(example, RESPONSE_MODELS[name])
    assert _subset(unstructure(model), example), (unstructure(model), example)


@pytest.mark.parametrize("name", sorted(RESPONSE_MODELS))
async def test_client_model_reads_only_documented_fields(
    document: dict[str, Any], name: str
) -> None:
    """Every field the client reads (nested ones too) is documented, required and typed alike."""
    found = list(mismatches(document, RESPONSE_MODELS[name], component(document, name), name))
    assert found == []


@pytest.mark.parametrize("name", sorted(REQUEST_BODIES))
async def test_client_request_bodies_fit_the_schema(document: dict[str, Any], name: str) -> None:
    """What the client sends validates against the request schema, with no undocumented key."""
    schema = component(document, name)
    for sample in REQUEST_BODIES[name]:
        body = unstructure(sample)
        assert errors(document, schema, body) == [], body
        assert set(body) <= set(schema["properties"])


async def test_request_samples_set_every_field() -> None:
    """The first sample of each request sets every field, so every key the client can send is
    held against the schema."""
    for name, samples in REQUEST_BODIES.items():
        full = samples[0]
        unset = [f.name for f in attrs.fields(type(full)) if getattr(full, f.name) == f.default]
        assert unset == [], name


async def test_the_contract_check_catches_a_wrong_model(document: dict[str, Any]) -> None:
    """A model reading a misspelt key, a nullable value as required or a wrong type is caught."""

    @attrs.frozen
    class Wrong:
        render_id: int
        name: str
        status_text: str

    found = list(mismatches(document, Wrong, component(document, "Render"), "Render"))
    assert any("render_id: the client reads int" in f for f in found), found
    assert any("name: the schema allows null" in f for f in found), found
    assert any("status_text: the client reads it" in f for f in found), found
