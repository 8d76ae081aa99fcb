"""The simulator's clock as clients see it: `Date` headers and timestamps, offset on demand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest

from tests.conftest import Reply

from .helpers import simulator, video_url

pytestmark = pytest.mark.anyio

SLACK = timedelta(seconds=2)  # `Date` has whole seconds; the test itself takes a moment


def dated(reply: Reply) -> datetime:
    """The answer's `Date` header, which must be an RFC 9110 IMF-fixdate."""
    header = reply.headers["Date"]
    assert header.endswith(" GMT") and len(header) == 29, header
    return parsedate_to_datetime(header)


def stamp(text: str) -> datetime:
    """An API timestamp (`...Z`) as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def near(moment: datetime, expected: datetime) -> bool:
    """Whether two times agree within the slack."""
    return abs(moment - expected) <= SLACK


@pytest.mark.parametrize("offset", [-900.0, 0.0, 900.0])
async def test_date_and_timestamps_are_shifted_by_the_offset(offset: float) -> None:
    """With `clock_offset`, the `Date` of answers and errors, `created_at` of a submission and
    of its ledger row all read real time plus the offset."""
    async with simulator(clock_offset=offset, time_scale=6000) as (_, api):
        server_now = datetime.now(UTC) + timedelta(seconds=offset)
        info = await api.post("/clips/info", {"url": video_url()})
        created = await api.post("/clips", {"video_id": info.json["video_id"]})
        path = f"/clips/{info.json['video_id']}/submissions/{created.json['submission_id']}"
        sub = await api.get(path)
        history = await api.get("/balance/history")
        refused = await api.get("/balance", key="wrong")
        assert refused.status == 401
        for reply in (info, created, sub, history, refused):
            assert near(dated(reply), server_now), reply.headers["Date"]
        assert near(stamp(sub.json["created_at"]), server_now)
        for row in history.json["transactions"]:  # the opening grant and the debit
            assert near(stamp(row["created_at"]), server_now)


async def test_date_follows_advance() -> None:
    """`advance()` moves the `Date` header with the simulator's clock, as its timestamps move."""
    async with simulator(clock_offset=-900, time_scale=100) as (fake, api):
        before = dated(await api.get("/balance"))
        fake.advance(600 * 100)  # 600 real seconds
        after = await api.get("/balance/history")
        assert near(dated(after), before + timedelta(seconds=600))
        info = await api.post("/clips/info", {"url": video_url()})
        created = await api.post("/clips", {"video_id": info.json["video_id"]})
        subs = await api.get(f"/clips/{info.json['video_id']}/submissions")
        assert created.status == 201
        [sub] = subs.json["submissions"]
        assert near(stamp(sub["created_at"]), dated(subs))
