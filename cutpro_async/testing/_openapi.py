"""An OpenAPI 3.1 document of what the simulator serves, derived from the route table."""

from __future__ import annotations

import enum
import re
import types
import typing
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from .._version import __version__
from ..models import ErrorBody

if TYPE_CHECKING:
    from ._routing import Route

_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    datetime: {"type": "string", "format": "date-time"},
    Any: {},
    object: {},
}
_QUERY = {
    "page": {"type": "integer", "minimum": 1, "default": 1},
    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
    "min_rating": {"type": "number", "minimum": 0, "maximum": 10},
    "max_rating": {"type": "number", "minimum": 0, "maximum": 10},
}
_ERROR = {"$ref": "#/components/schemas/ErrorBody"}


def schema_of(kind: Any, components: dict[str, Any]) -> dict[str, Any]:
    """The JSON Schema of a type, registering attrs classes under components."""
    if kind in _SCALARS:
        return dict(_SCALARS[kind])
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (types.UnionType, typing.Union):
        return {"anyOf": [schema_of(arg, components) for arg in args]}
    if kind is type(None):
        return {"type": "null"}
    if origin is list:
        return {"type": "array", "items": schema_of(args[0], components)}
    if origin is dict or kind is dict:
        return {"type": "object"}
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        # Known values only; clients must accept values added later.
        return {"type": "string", "examples": [member.value for member in kind]}
    if attrs.has(kind):
        _register(kind, components)
        return {"$ref": f"#/components/schemas/{kind.__name__}"}
    raise TypeError(f"no schema for {kind!r}")


def _register(cls: type, components: dict[str, Any]) -> None:
    """Add an attrs class to the components (once)."""
    if cls.__name__ in components:
        return
    components[cls.__name__] = {}
    hints = typing.get_type_hints(cls)
    fields = attrs.fields(cls)
    components[cls.__name__] = {
        "type": "object",
        "properties": {f.name: schema_of(hints[f.name], components) for f in fields},
        "required": [f.name for f in fields if f.default is attrs.NOTHING],
    }


def _operation(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    """One operation object."""
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", route.path)
    ]
    params += [
        {
            "name": name,
            "in": "query",
            "required": False,
            "schema": _QUERY.get(name, {"type": "string"}),
        }
        for name in route.query
    ]
    success: dict[str, Any] = {"description": "Success"}
    if route.response is not None:
        success["content"] = {"application/json": {"schema": schema_of(route.response, components)}}
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "parameters": params,
        "responses": {
            **{str(status): success for status in (route.status, *route.also)},
            "default": {
                "description": "Error",
                "content": {"application/json": {"schema": _ERROR}},
            },
        },
    }
    if route.request is not None:
        body = {"application/json": {"schema": schema_of(route.request, components)}}
        operation["requestBody"] = {"required": True, "content": body}
    return operation


def openapi_document(routes: Sequence[Route], server_url: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    components: dict[str, Any] = {}
    schema_of(ErrorBody, components)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "CutPro API v1 (cutpro_async simulator)", "version": __version__},
        "servers": [{"url": server_url}],
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }
