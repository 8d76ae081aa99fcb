"""Workspace, balance and ledger endpoints."""

from __future__ import annotations

from aiohttp import web

from ._enums import REFERENCE_TYPES, TransactionType
from ._params import paginate, query_choice
from ._routing import Route, json_response, workspace_of
from ._wire import wire


async def get_workspace(request: web.Request) -> web.Response:
    """The workspace this request resolved to, with its live credit balance."""
    ws = workspace_of(request)
    return json_response({**ws.info, "credits": ws.balance})


async def get_balance(request: web.Request) -> web.Response:
    """The current balance."""
    return json_response(wire("Balance", balance=workspace_of(request).balance))


async def get_balance_history(request: web.Request) -> web.Response:
    """The ledger, newest first, filtered by `type` and `reference_type`."""
    kind = query_choice(request, "type", [t.value for t in TransactionType])
    reference = query_choice(request, "reference_type", REFERENCE_TYPES)
    rows = [
        row
        for row in reversed(workspace_of(request).ledger)
        if (kind is None or row.type == kind)
        and (reference is None or row.reference_type == reference)
    ]
    page, info = paginate(request, rows, default_limit=50)
    rows_json = [row.json() for row in page]
    return json_response(wire("TransactionPage", transactions=rows_json, pagination=info))


ROUTES = [
    Route(
        "GET",
        "/workspace",
        get_workspace,
        "getWorkspace",
        "The workspace the request resolved to: plan, role, credits, seats.",
        response="Workspace",
    ),
    Route(
        "GET", "/balance", get_balance, "getBalance", "Current credit balance.", response="Balance"
    ),
    Route(
        "GET",
        "/balance/history",
        get_balance_history,
        "getBalanceHistory",
        "Credit ledger, newest first.",
        response="TransactionPage",
        query=("page", "limit", "type", "reference_type"),
    ),
]
