"""The one cattrs converter (orjson flavour) that turns API JSON into models and back."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import attrs
from cattrs.gen import make_dict_unstructure_fn
from cattrs.preconf.orjson import make_converter

from . import models

T = TypeVar("T")

converter = make_converter(forbid_extra_keys=False)


def _iso(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`, as the API writes timestamps."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso(value: Any, _: type) -> datetime:
    """Parse an ISO 8601 timestamp; naive values are taken as UTC."""
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


converter.register_unstructure_hook(datetime, _iso)
converter.register_structure_hook(datetime, _parse_iso)


def _omitting_unset(cls: type) -> Callable[[Any], dict[str, Any]]:
    """An unstructure hook that leaves out optional fields left at None.

    The reference describes such fields as "omitted means ..." (every clip, now, the whole
    video); an explicit `null` is something else, which a strict API may refuse.
    """
    base: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, converter)
    optional = [field.name for field in attrs.fields(cls) if field.default is None]

    def hook(obj: Any) -> dict[str, Any]:
        data: dict[str, Any] = base(obj)
        for name in optional:
            if data.get(name, 0) is None:
                del data[name]
        return data

    return hook


for _request in (
    models.AnalyzeRequest,
    models.StartUploadRequest,
    models.CompleteUploadRequest,
    models.SubmitRequest,
    models.ApplyTemplateRequest,
    models.BulkDownloadRequest,
    models.CreatePostRequest,
    models.UpdatePostRequest,
    models.PostVideo,
    models.PostTarget,
):
    converter.register_unstructure_hook(_request, _omitting_unset(_request))


def structure(data: Any, cls: type[T]) -> T:
    """Build a model of `cls` from decoded JSON, ignoring keys the model does not know."""
    return converter.structure(data, cls)


def unstructure(obj: Any) -> Any:
    """Turn a model (or a list/dict of them) into JSON-ready builtins."""
    return converter.unstructure(obj)
