"""`FakeCutPro`: the simulator as an async context manager, with inspection for tests."""

from __future__ import annotations

import os
import secrets
from collections import Counter
from collections.abc import Iterable
from datetime import datetime
from functools import partial
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs
from aiohttp import web

from ._api import make_api_app
from ._config import SimConfig
from ._delays import Latencies, api_middleware, install, storage_middleware
from ._enums import TransactionType
from ._faults import Fault, FaultPlan, parse_faults
from ._ledger import LedgerRow
from ._persist import WorldStore
from ._routing import API_PREFIX
from ._storage import make_storage_app
from ._world import WorkspaceState, World


def _as_faults(faults: str | Iterable[Fault]) -> list[Fault]:
    """A spec string or Fault objects, as a list."""
    return parse_faults(faults) if isinstance(faults, str) else list(faults)


@attrs.frozen
class SimPostItem:
    """One clip to one account in the simulator's world, for tests to count."""

    post_id: str
    item_id: str
    edit_id: str
    connection_id: str
    scheduled_at: datetime | None  # when publishing starts (None: not yet scheduled)
    attempts: int  # 1 + retries


class FakeCutPro:
    """A stateful fake CutPro v1 server on 127.0.0.1: the API on one port, storage on another.

    `FakeCutPro(time_scale=6000, credits=500, faults="5xx=0.1", storage_profile="gcs")`: keyword
    settings override `SimConfig` fields. Use `async with`; then `base_url` and `api_key` point a
    client at it.

    **Latency.** Answers are instant unless `latency=` says otherwise: `latency="realistic"`
    delays each API answer by a seeded lognormal draw around its route's median (50 to 300 ms)
    and each storage answer's first byte likewise; `latency=0.1` puts every route around
    100 ms (see `LatencyModel`). `latencies` counts what was delayed.

    **A world kept on disk.** `FakeCutPro(state_path=Path("sim/world.sqlite"))` keeps its world
    in that SQLite file, and a later simulator given the same file continues it: workspaces with
    their credits and ledger, API keys, videos, uploads, submissions and clips, renders, bulk
    downloads, posts, the id counter and the clock. `api_key` and `workspace_id` stay the same
    (an `api_key=` given on restore is accepted as well); `world_id` names the world for good.

    - Every change is committed (WAL, `synchronous=FULL`) before the answer that reveals it is
      sent, so a process killed at any moment (`kill -9`, `os._exit`) leaves a state that knows
      every id a client was told. Only changed objects are written, one row each, grouped into
      one transaction per commit; a request that changes nothing writes nothing (the clock's
      position is written at most once a second, see `_persist`).
    - Time stopped while no simulator ran does not pass: the clock resumes where it stopped
      (after a crash, up to a second later), so running jobs continue and finish on the
      simulated clock, and nothing expires meanwhile. Timestamps continue from the saved ones.
    - Signed links are not kept: the storage host listens on a new port, and the API signs a
      fresh link whenever asked (`GET /renders/{id}/download`, a clip listing, a bulk job).
    - Not kept either: fault state, request counters, rate-limit windows, commits still waiting
      (`slowcommit`). Settings (`SimConfig`) are those given now; `credits=` only sets the
      opening balance of a new world, and `clock_offset=` only the clock of a new world.
    - The file is locked while a simulator uses it; a file that is not a simulator's state, is
      damaged, is in use, or was written in another format version raises `StateFileError`
      saying so.
    """

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        faults: str | Iterable[Fault] = (),
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        storage_port: int = 0,
        state_path: str | os.PathLike[str] | None = None,
        **settings: Any,
    ) -> None:
        self.config = attrs.evolve(config or SimConfig(), **settings)
        self.world = World(self.config)
        self.plan = FaultPlan(_as_faults(faults), self.config.seed)
        #: The latency model at work (None: answers are instant), with what it delayed.
        self.latencies = (
            None
            if self.config.latency is None
            else Latencies(self.config.latency, self.config.seed)
        )
        self.state_path = None if state_path is None else Path(state_path)
        self._store = None if self.state_path is None else WorldStore(self.state_path)
        #: Whether the world was restored from `state_path` (False: a new world).
        self.restored = self._store is not None and self._store.exists
        try:
            self._workspace = self._restore(api_key) if self.restored else self._new(api_key)
        except BaseException:
            if self._store is not None:
                self._store.abandon()
            raise
        self._host, self._ports = host, (port, storage_port)
        self._runners: list[web.AppRunner] = []
        self.base_url = ""
        self.storage_url = ""

    def _new(self, api_key: str | None) -> WorkspaceState:
        """A new world: one workspace and its key (written whole to the state file, if any)."""
        self.api_key = api_key or f"cp_sim_{secrets.token_hex(16)}"
        workspace = self.world.add_workspace(self.config.credits)
        self.world.add_key(self.api_key, workspace.id)
        if self._store is not None:
            self._store.create(self.world, self.api_key, workspace.id)
            self._keep(self._store)
        return workspace

    def _restore(self, api_key: str | None) -> WorkspaceState:
        """The world saved in the state file; `api_key`, if given, is accepted as well."""
        assert self._store is not None
        saved_key, workspace_id = self._store.load(self.world)
        self._keep(self._store)
        self.api_key = api_key or saved_key
        if self.api_key not in self.world.keys:
            self.world.add_key(self.api_key, workspace_id)
        return self.world.workspaces[workspace_id]

    def _keep(self, store: WorldStore) -> None:
        """From now on, note every change and save it before answering."""
        self.world.dirty = {}
        self.world.persist = partial(store.save, self.world)

    def __repr__(self) -> str:
        return f"<FakeCutPro {self.base_url or 'not started'}>"

    @property
    def workspace_id(self) -> str:
        """The id of the default workspace (the one `api_key` resolves to)."""
        return self._workspace.id

    @property
    def world_id(self) -> str:
        """The world's own id: kept in its state file, so the same across restarts."""
        return self.world.world_id

    async def start(self) -> FakeCutPro:
        """Start both servers; `base_url` and `storage_url` are set afterwards."""
        storage, api = make_storage_app(self.world, self.plan), make_api_app(self.world, self.plan)
        if self.latencies is not None:
            install(storage, storage_middleware(self.latencies))
            install(api, api_middleware(self.latencies))
        storage_port = await self._serve(storage, self._ports[1])
        self.storage_url = f"http://{self._host}:{storage_port}"
        self.world.signer.base_url = self.storage_url
        api_port = await self._serve(api, self._ports[0])
        self.base_url = f"http://{self._host}:{api_port}{API_PREFIX}"
        self.world.api_origin = f"http://{self._host}:{api_port}"
        return self

    async def _serve(self, app: web.Application, port: int) -> int:
        """Run one app; returns the port it listens on."""
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self._host, port, backlog=1024)
        await site.start()
        return int(runner.addresses[0][1])

    async def close(self) -> None:
        """Stop both servers; slow commits still waiting never happen. A world kept on disk
        is saved with its exact clock, and its file closed and unlocked."""
        await self.world.stop()
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()
        store, self._store = self._store, None
        if store is not None:
            self.world.persist = None
            await store.close(self.world)

    async def __aenter__(self) -> FakeCutPro:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- controls -------------------------------------------------------------------------

    def set_faults(self, faults: str | Iterable[Fault], seed: int | None = None) -> None:
        """Put other faults in force from now on (an empty spec turns them off)."""
        self.plan.replace(_as_faults(faults), seed)

    def advance(self, api_seconds: float) -> None:
        """Jump the simulated clock forward (jobs finish, links and clips expire)."""
        self.world.clock.advance(api_seconds)

    def add_workspace(self, credits: float = 1000, name: str = "Another workspace") -> str:
        """A new workspace (reachable through `add_key`); returns its id."""
        return self.world.add_workspace(credits, name).id

    def add_key(self, *workspace_ids: str) -> str:
        """A new API key for these workspaces (several need `X-Workspace-Id`); returns it."""
        key = f"cp_sim_{secrets.token_hex(16)}"
        self.world.add_key(key, *workspace_ids)
        return key

    def expire_submission(self, submission_id: str) -> None:
        """Make a submission's clips expire now (410 `SUBMISSION_EXPIRED`)."""
        for ws in self.world.workspaces.values():
            if submission_id in ws.submissions:
                ws.submissions[submission_id].expires = self.world.clock.now()
                self.world.changed("submission", submission_id, workspace=ws.id)
                return
        raise KeyError(submission_id)

    def set_connection_status(self, connection_id: str, status: str) -> None:
        """Change a connected account's status (e.g. `revoked`, `expired`, `active`): items
        to an account that is not active fail, those not finished yet included."""
        now = self.world.clock.now()
        for ws in self.world.workspaces.values():
            if connection_id in ws.connections:
                ws.connections[connection_id]["status"] = status
                self.world.changed("workspace", ws.id, workspace=ws.id)
                for post in ws.posts.values():
                    for item in post.items.values():
                        if item.connection_id == connection_id and item.attempts:
                            start, end, _ = item.attempts[-1]
                            if end > now:  # not published yet: decided by the new status
                                item.attempts[-1] = (start, end, status != "active")
                                self.world.changed("post", post.post_id, workspace=ws.id)
                return
        raise KeyError(connection_id)

    # -- inspection -----------------------------------------------------------------------

    def _state(self, workspace_id: str | None) -> WorkspaceState:
        """A workspace's state (default: the default workspace)."""
        return self.world.workspaces[workspace_id or self.workspace_id]

    def balance(self, workspace_id: str | None = None) -> float:
        """The workspace's credit balance."""
        return self._state(workspace_id).balance

    def ledger(self, workspace_id: str | None = None) -> list[LedgerRow]:
        """Every ledger row, oldest first (`row.type == "debit"` for a charge)."""
        return list(self._state(workspace_id).ledger)

    def charges_per_video(self, workspace_id: str | None = None) -> Counter[str]:
        """How many times each video was charged (a correct client never goes above 1)."""
        state = self._state(workspace_id)
        return Counter(
            state.ledger_videos[row.id] for row in state.ledger if row.type is TransactionType.DEBIT
        )

    def pending_commits(self, workspace_id: str | None = None) -> dict[str, float]:
        """Paid requests taken but not committed yet (`slowcommit`): video id -> credits held."""
        return dict(self._state(workspace_id).committing)

    def credits_spent(self, workspace_id: str | None = None) -> float:
        """Total credits debited."""
        rows = self._state(workspace_id).ledger
        return -sum(row.amount for row in rows if row.type is TransactionType.DEBIT)

    def connections(self, workspace_id: str | None = None) -> list[dict[str, Any]]:
        """The workspace's connected accounts, as `GET /connections` shows them."""
        return [dict(c) for c in self._state(workspace_id).connections.values()]

    def post_items(self, workspace_id: str | None = None) -> list[SimPostItem]:
        """Every item of every post, oldest post first."""
        world = self.world
        return [
            SimPostItem(
                post.post_id,
                item.id,
                item.edit_id,
                item.connection_id,
                None if post.scheduled is None else world.clock.wall(post.scheduled),
                len(item.attempts),
            )
            for post in self._state(workspace_id).posts.values()
            for item in post.items.values()
        ]

    @property
    def requests(self) -> Counter[str]:
        """Requests seen per route, keyed `METHOD /path/{param}` (storage: `storage ...`)."""
        return self.world.requests

    @property
    def rate_limited(self) -> Counter[str]:
        """429s answered per route, keyed as `requests` (rate limits, injected bursts, a
        template batch still running)."""
        return self.world.rate_limited

    @property
    def key_leaks(self) -> list[str]:
        """Storage requests that carried an API key (must stay empty)."""
        return self.world.key_leaks

    @property
    def injected(self) -> dict[str, int]:
        """How many times each fault kind fired."""
        return self.plan.injected
