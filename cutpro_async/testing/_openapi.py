"""The OpenAPI 3.1 document of what the simulator serves: the route table plus `_schema`."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._schema import SCHEMAS, ref

if TYPE_CHECKING:
    from ._routing import Route

_QUERY = {
    "page": {"type": "integer", "minimum": 1, "default": 1},
    "limit": {"type": "integer", "minimum": 1, "maximum": 100},
    "min_rating": {"type": "number", "minimum": 0, "maximum": 10},
    "max_rating": {"type": "number", "minimum": 0, "maximum": 10},
}


def _version() -> str:
    """The installed package's version (the simulator ships inside it)."""
    try:
        return importlib.metadata.version("cutpro-async")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "0+unknown"


def _json(name: str) -> dict[str, Any]:
    """A JSON content map whose schema is the named component."""
    if name not in SCHEMAS:
        raise KeyError(f"no component schema {name!r} in _schema.SCHEMAS")
    return {"application/json": {"schema": ref(name)}}


def _answer(description: str, schema: str | None) -> dict[str, Any]:
    """A response object, with a JSON body of the named schema if any."""
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer["content"] = _json(schema)
    return answer


def _successes(route: Route) -> dict[str, Any]:
    """The success responses of a route by status."""
    found = {
        str(status): _answer("Success", route.response) for status in (route.status, *route.also)
    }
    if route.status == 204:  # `SimConfig(delete_status=200)` answers `{}` instead
        found["200"] = _answer("Done (a simulator set to answer 200)", "Deleted")
    return found


def _operation(route: Route) -> dict[str, Any]:
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
    operation: dict[str, Any] = {
        "operationId": route.operation_id,
        "summary": route.summary,
        "parameters": params,
        "responses": {**_successes(route), "default": _answer("Error", "ErrorBody")},
    }
    if route.request is not None:
        operation["requestBody"] = {"required": True, "content": _json(route.request)}
    return operation


def openapi_document(routes: Sequence[Route], server_url: str) -> dict[str, Any]:
    """The whole OpenAPI 3.1 document."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "CutPro API v1 (cutpro_async simulator)", "version": _version()},
        "servers": [{"url": server_url}],
        "security": [{"ApiKey": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
    }
