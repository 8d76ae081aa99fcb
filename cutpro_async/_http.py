"""The transport core: one aiohttp session, auth, pacing, classified retries, error mapping."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import anyio
import cattrs
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from ._clock import ServerClock
from ._converter import structure, unstructure
from ._pacing import Pacer
from ._retry import SAFE_METHODS, Retrier, backoff, maybe_processed, retry_after
from ._settings import USER_AGENT, Settings
from .errors import (
    APIConnectionError,
    APIError,
    APITimeoutError,
    CutProError,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    UnexpectedResponse,
    error_class,
)

log = logging.getLogger("cutpro_async")


class Deadlines:
    """`Timeouts.total` for every API call in flight, on one timer (not one per call).

    `with deadlines:` bounds the call the current task makes inside (one at a time per
    task). Every call gets the same bound, so deadlines come in the order calls begin: the
    timer waits for the oldest call in flight; when it fires, each call past its deadline has
    its task cancelled, and that cancel leaves the `with` as `TimeoutError` (by
    `asyncio.timeout`'s rules: a cancel from elsewhere still propagates as a cancel).
    """

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        #: Task -> (deadline, its `cancelling()` on entry), in the order of the deadlines.
        self._calls: dict[asyncio.Task[Any], tuple[float, int]] = {}
        self._expired: dict[asyncio.Task[Any], int] = {}  # cancelled, not yet out of `with`
        self._timer: asyncio.TimerHandle | None = None

    def __enter__(self) -> None:
        task = asyncio.current_task()
        if task is None:
            raise RuntimeError("an API call must run in an asyncio task")
        loop = task.get_loop()
        deadline = loop.time() + self._seconds
        self._calls[task] = (deadline, task.cancelling())
        if self._timer is None:
            self._timer = loop.call_at(deadline, self._fire, loop)

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._calls.pop(task, None) is not None:
            return  # in time
        cancelling = self._expired.pop(task)
        if task.uncancel() <= cancelling and exc_type is asyncio.CancelledError:
            raise TimeoutError  # our cancel, and no other one pending

    def _fire(self, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel every call past its deadline; then wait for the oldest one left."""
        self._timer = None
        now = loop.time()
        for task, (deadline, cancelling) in list(self._calls.items()):
            if deadline > now:
                self._timer = loop.call_at(deadline, self._fire, loop)
                return
            del self._calls[task]
            self._expired[task] = cancelling
            task.cancel()


class Transport:
    """Sends API requests for one client; safe to share between thousands of tasks."""

    def __init__(self, settings: Settings, session: aiohttp.ClientSession | None = None) -> None:
        self.settings = settings
        self._session = session
        self._owns_session = session is None
        self.pacer = Pacer(settings.pacing)
        self.retrier = Retrier(settings.retry)
        #: The server's time, from the `Date` of every answer (for comparing its timestamps).
        self.clock = ServerClock()
        #: The API's host, whose retry budget API calls spend.
        self.host = urlsplit(settings.base_url).netloc
        self._budget = self.retrier.budget(self.host)
        self._file_limiter: anyio.CapacityLimiter | None = None
        self._file_threads: ThreadPoolExecutor | None = None
        t = settings.timeouts
        # `total` is kept by `_deadlines` (one timer for all calls, where aiohttp's would arm
        # one per call); aiohttp keeps the connect and read timeouts.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=t.connect, sock_read=t.read)
        self._deadlines = self._new_deadlines()
        headers = {
            "X-Api-Key": settings.api_key,
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        if settings.workspace_id:
            headers["X-Workspace-Id"] = settings.workspace_id
        # Built once as aiohttp's own type, which it reads without converting; never changed.
        self._headers = CIMultiDictProxy(CIMultiDict(headers))
        self._json_headers = CIMultiDictProxy(
            CIMultiDict({**headers, "Content-Type": "application/json"})
        )
        self._base_url = settings.base_url
        self._date: str | None = None  # the last `Date` the clock learned from

    @property
    def session(self) -> aiohttp.ClientSession:
        """The open session; an error that says how to open it otherwise."""
        if self._session is None or self._session.closed:
            raise CutProError("the client is not open: use `async with CutPro() as cp:`")
        return self._session

    @property
    def file_limiter(self) -> anyio.CapacityLimiter:
        """A limiter of `Limits.file_threads` for `anyio.to_thread` (the client's own file
        work goes to `file_threads`)."""
        if self._file_limiter is None:
            self._file_limiter = anyio.CapacityLimiter(self.settings.limits.file_threads)
        return self._file_limiter

    @property
    def file_threads(self) -> ThreadPoolExecutor:
        """The threads that read and write local files for this client's transfers
        (`Limits.file_threads` of them, started when first needed)."""
        if self._file_threads is None:
            self._file_threads = ThreadPoolExecutor(
                self.settings.limits.file_threads, thread_name_prefix="cutpro-files"
            )
        return self._file_threads

    def _new_deadlines(self) -> AbstractContextManager[None]:
        """What bounds each API call by `Timeouts.total` (nothing when it is None)."""
        total = self.settings.timeouts.total
        return nullcontext() if total is None else Deadlines(total)

    async def open(self) -> None:
        """Create the session (unless the caller gave one)."""
        self._deadlines = self._new_deadlines()  # its timer belongs to the running loop
        if self._session is None or (self._owns_session and self._session.closed):
            connector = aiohttp.TCPConnector(limit=self.settings.limits.max_connections)
            self._session = aiohttp.ClientSession(connector=connector)
            self._owns_session = True

    async def close(self) -> None:
        """Close the session if this client created it (a caller's session stays open), and
        let the file threads end once idle."""
        if self._file_threads is not None:
            self._file_threads.shutdown(wait=False)
            self._file_threads = None
        if self._owns_session and self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        route: str,
        json: Any = None,
        params: Mapping[str, str | int | float] | None = None,
        safe: bool | None = None,
        into: type[Any] | None = None,
    ) -> Any:
        """Send one API call with pacing and retries; returns decoded JSON (None if empty),
        or with `into` that JSON structured into that model.

        `safe` says whether the call may be repeated after a failure that the server may have
        acted on (default: by method). Failures it provably did not act on (no connection,
        429, 503 with a wait hint) may be repeated even when it is not safe; 4xx answers
        never are, and every retry stays within the policy's attempts, deadline and budget.
        An answer that does not fit `into` is `UnexpectedResponse` (not retried).
        """
        body = orjson.dumps(unstructure(json)) if json is not None else None
        started = time.monotonic()
        try:  # the first attempt builds nothing for retrying: most calls succeed at once
            result = await self._send(method, path, body, params, route, 0)
        except Exception as exc:
            result = await self._retry(exc, started, method, path, body, params, route, safe)
        else:
            self._budget.on_success()
        self.pacer.on_success()
        return result if into is None else _structured(result, into, route)

    async def _retry(
        self,
        error: Exception,
        started: float,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, str | int | float] | None,
        route: str,
        safe: bool | None,
    ) -> Any:
        """The retries after a first attempt (begun at `started`) that raised `error`."""
        repeatable = method in SAFE_METHODS if safe is None else safe
        acted = _maybe_acted(error)

        async def attempt(number: int) -> Any:
            nonlocal acted
            try:
                return await self._send(method, path, body, params, route, number)
            except NotFound:
                if method == "DELETE" and acted:
                    return None  # an earlier attempt deleted it, then the answer was lost
                raise
            except Exception as exc:
                acted = acted or _maybe_acted(exc)
                raise

        def decide(exc: Exception, number: int) -> float | None:
            return self._retry_delay(exc, repeatable, number, route)

        what = f"{method} {path}"
        return await self.retrier.retry(
            error, attempt, decide, what=what, host=self.host, started=started
        )

    def _retry_delay(
        self, exc: Exception, repeatable: bool, attempt: int, route: str
    ) -> float | None:
        """Seconds to wait before repeating, or None to give up and raise `exc`."""
        if not isinstance(exc, APIError | TransportError):
            return None
        policy = self.settings.retry
        hint = exc.retry_after if isinstance(exc, APIError) else None
        too_long = hint is not None and hint > policy.max_retry_after
        if isinstance(exc, RateLimited) and not too_long:
            # Pause (and slow) the budget for the wait we honour. A wait too long to honour is
            # raised instead, and does not freeze the client's other calls.
            self.pacer.on_rate_limited(route, hint)
        elif isinstance(exc, APIError) and not isinstance(exc, ServerError):
            return None  # a 4xx: repeating cannot help
        if (exc.maybe_processed and not repeatable) or too_long:
            return None
        return hint if hint is not None else backoff(policy, attempt)

    async def _send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        params: Mapping[str, str | int | float] | None,
        route: str,
        attempt: int,
    ) -> Any:
        """One paced HTTP exchange; maps transport failures and error statuses to exceptions."""
        slot = await self.pacer.wait_turn(route)
        headers = self._headers if body is None else self._json_headers
        started = time.perf_counter()
        try:
            with self._deadlines:
                async with self.session.request(
                    method,
                    self._base_url + path,
                    data=body,
                    params=params,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,
                ) as resp:
                    raw = await self._read_capped(resp)
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            cls = (
                APITimeoutError
                if isinstance(exc, aiohttp.ConnectionTimeoutError)
                else APIConnectionError
            )
            raise cls(
                f"{method} {path}: could not connect ({type(exc).__name__}); "
                "check the network and base_url",
                maybe_processed=False,
            ) from None
        except (aiohttp.ServerTimeoutError, TimeoutError) as exc:  # the builtin: total timeout
            raise APITimeoutError(
                f"{method} {path}: no answer in time ({type(exc).__name__}); "
                "raise Timeouts(read=..., total=...) if the API is slow",
                maybe_processed=True,
            ) from None
        except aiohttp.ClientError as exc:
            raise APIConnectionError(
                f"{method} {path}: connection broke ({type(exc).__name__})", maybe_processed=True
            ) from None
        finally:
            if slot is not None:  # the answer came (or never will): the server has seen it
                slot.finish()
        if log.isEnabledFor(logging.DEBUG):
            elapsed = time.perf_counter() - started
            log.debug("%s %s -> %s attempt=%d %.3fs", method, path, resp.status, attempt, elapsed)
        date = resp.headers.get("Date")
        if date != self._date:  # the same `Date` (to the second) teaches nothing new
            self._date = date
            self.clock.observe(date)
        if resp.status >= 400:
            raise _api_error(method, path, resp.status, raw, resp.headers, self._url_hint(resp))
        return _decode(raw)

    def _url_hint(self, resp: aiohttp.ClientResponse) -> str | None:
        """Advice for a 404 from a base URL that does not look like CutPro's API."""
        base = self.settings.base_url
        if resp.status != 404 or base.endswith("/api/v1"):
            return None
        return f"is the API URL right? CutPro's ends in /api/v1, this one is {base}"

    async def _read_capped(self, resp: aiohttp.ClientResponse) -> bytes:
        """The body, refusing anything larger than `Limits.max_json_bytes`."""
        cap = self.settings.limits.max_json_bytes
        length = resp.content_length
        if length is not None:
            if length > cap:
                raise CutProError(
                    f"response of {length} bytes exceeds the {cap}-byte cap (Limits.max_json_bytes)"
                )
            return await resp.read()  # aiohttp stops at the stated length
        chunks, size = [], 0
        async for chunk in resp.content.iter_any():
            size += len(chunk)
            if size > cap:
                raise CutProError(f"response exceeds the {cap}-byte cap (Limits.max_json_bytes)")
            chunks.append(chunk)
        return b"".join(chunks)


def _structured(data: Any, cls: type[Any], route: str) -> Any:
    """The answer to `route` as a `cls`; `UnexpectedResponse` if it is not one."""
    try:
        return structure(data, cls)
    except (ValueError, TypeError, KeyError, AttributeError, cattrs.BaseValidationError) as exc:
        raise UnexpectedResponse(
            f"{route}: the answer is not a {cls.__name__} ({type(exc).__name__}); "
            "the API may have changed: upgrade cutpro-async or report it"
        ) from exc


def _maybe_acted(exc: Exception) -> bool:
    """Whether the server may have acted on an attempt that failed with `exc`."""
    return isinstance(exc, APIError | TransportError) and exc.maybe_processed


def _decode(raw: bytes) -> Any:
    """JSON, or None for an empty or non-JSON success body (some deletes send text)."""
    if not raw:
        return None
    try:  # a body of blanks is no JSON either
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def _api_error(
    method: str,
    path: str,
    status: int,
    raw: bytes,
    headers: CIMultiDictProxy[str],
    advice: str | None = None,
) -> APIError:
    """The exception for an error response; non-JSON bodies are tolerated."""
    data = _decode(raw)
    if not isinstance(data, dict):
        text = raw[:200].decode("utf-8", "replace").strip()
        data = {"code": f"HTTP_{status}", "message": text}
    code = str(data.get("code") or data.get("error") or f"HTTP_{status}")
    extra: dict[str, Any] = data["extra"] if isinstance(data.get("extra"), dict) else {}
    hint = retry_after(headers, extra) if status in (429, 503) else None
    cls = error_class(status, code)
    return cls(
        status,
        code,
        str(data.get("message") or ""),
        extra,
        method=method,
        path=path,
        maybe_processed=maybe_processed(status, hinted=hint is not None),
        retry_after=hint,
        advice=advice,
    )


def transport_error(what: str, exc: aiohttp.ClientError | TimeoutError) -> TransportError:
    """The typed error for a request that got no HTTP answer; `what` names it without secrets.

    aiohttp's own text can quote the URL (with a signed query string), so it is never used.
    """
    processed = maybe_processed(exc)
    name = type(exc).__name__
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        cls: type[TransportError] = (
            APITimeoutError if isinstance(exc, TimeoutError) else APIConnectionError
        )
        return cls(
            f"{what}: could not connect ({name}); check the network and the URL (base_url)",
            maybe_processed=processed,
        )
    if isinstance(exc, TimeoutError):  # aiohttp's read timeouts are TimeoutErrors too
        return APITimeoutError(
            f"{what}: no answer in time ({name}); raise Timeouts(...) if the server is slow",
            maybe_processed=processed,
        )
    return APIConnectionError(f"{what}: connection broke ({name})", maybe_processed=processed)
