"""The publish stage: every (clip, account) posted exactly once, items failing alone, on a
calendar, against the simulator through real HTTP."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from cutpro_async import UsageError
from cutpro_async.batch import Batch, MemoryStore, Phase, RunOptions, SQLiteStore
from cutpro_async.batch.options import PublishOptions
from cutpro_async.batch.post_meta import check_post_meta, load_post_meta
from cutpro_async.batch.publishing import LEAD
from cutpro_async.testing import FakeCutPro

from .conftest import simulated, video_urls

pytestmark = pytest.mark.anyio

ACCOUNTS = ("tiktok:sim_tiktok", "youtube:My youtube")


def pairs(fake: FakeCutPro) -> Counter[tuple[str, str]]:
    """How many items the server holds for each (render, account)."""
    return Counter((item.edit_id, item.connection_id) for item in fake.post_items())


async def test_each_clip_is_posted_to_each_account_once_despite_dropped_answers(
    tmp_path: Path,
) -> None:
    """drop=0.3 on POST /posts: every lost answer is adopted from GET /posts, never re-sent;
    a rerun posts nothing."""
    urls = video_urls(8)
    options = RunOptions(out=tmp_path, top_k=2, publish=PublishOptions(ACCOUNTS, top_k=2))
    async with simulated(faults="drop=0.3@POST /posts", seed=7) as (fake, cp):
        store = MemoryStore()
        summary = await Batch(cp, options, store).run(urls)
        assert summary.done == 8 and summary.failed == 0
        assert fake.injected["drop"] > 0
        assert summary.posts_adopted == fake.injected["drop"]
        assert summary.posts_published == 8 * 2 * 2
        counts = pairs(fake)
        assert len(counts) == 32 and set(counts.values()) == {1}
        records = await store.records()
        for record in records:
            assert len(record.posts) == 4
            for entry in record.posts.values():
                assert entry.status == "completed" and entry.published_url, entry
        posts_sent = fake.requests["POST /posts"]
        again = Batch(cp, options, store)
        summary = await again.run(urls)
        assert summary.skipped == 8 and fake.requests["POST /posts"] == posts_sent
        assert pairs(fake) == counts
        entry = next(iter(records[0].posts.values()))
        assert entry.post_id is not None and again.publisher is not None
        await cp.posts.delete(entry.post_id)  # deleted by hand: kept as posted
        await again.publisher.refresh(entry)
        assert (entry.status, entry.post_id) == ("deleted", entry.post_id)
        assert not again.publisher.pending(records[0])


@pytest.mark.parametrize("style", ["suggested", "data"])
async def test_another_record_adopts_what_was_posted(tmp_path: Path, style: str) -> None:
    """A second record (another machine, a lost state file) finds the posts on the server,
    whether `GET /posts` lists them with their items and pages or, bare, without either."""
    urls = video_urls(3)
    options = RunOptions(out=tmp_path, top_k=1, publish=PublishOptions(ACCOUNTS))
    async with simulated(posts_list_style=style) as (fake, cp):
        await Batch(cp, options, MemoryStore()).run(urls)
        sent = fake.requests["POST /posts"]
        summary = await Batch(cp, options, MemoryStore()).run(urls)
        assert fake.requests["POST /posts"] == sent
        assert summary.posts_adopted == 6 and summary.posts_sent == 0
        assert set(pairs(fake).values()) == {1}


async def test_an_inactive_account_is_refused_before_anything_is_paid(tmp_path: Path) -> None:
    """The simulator's instagram account is expired: the run stops before any paid request."""
    options = RunOptions(
        out=tmp_path, publish=PublishOptions(["youtube:sim_youtube", "instagram:sim_instagram"])
    )
    async with simulated() as (fake, cp):
        with pytest.raises(UsageError, match=r"instagram .* is expired: reconnect it"):
            await Batch(cp, options, MemoryStore()).run(video_urls(2))
        assert fake.requests["POST /clips"] == 0 and fake.credits_spent() == 0


async def test_an_unknown_account_is_refused_naming_the_connected_ones(tmp_path: Path) -> None:
    """A typo lists the accounts there are."""
    options = RunOptions(out=tmp_path, publish=PublishOptions(["youtube:nobody"]))
    async with simulated() as (fake, cp):
        with pytest.raises(UsageError, match=r"not a connected account.*tiktok:My tiktok"):
            await Batch(cp, options, MemoryStore()).run(video_urls(1))
        assert fake.requests["POST /clips"] == 0


async def test_a_failed_item_is_retried_while_its_siblings_stay_published(
    tmp_path: Path,
) -> None:
    """Items whose first attempt fails are retried once each; the others get one attempt."""
    urls = video_urls(6)
    options = RunOptions(out=tmp_path, top_k=1, publish=PublishOptions(ACCOUNTS))
    async with simulated(post_item_flaky_rate=0.5, seed=3) as (fake, cp):
        store = MemoryStore()
        summary = await Batch(cp, options, store).run(urls)
        attempts = Counter(item.attempts for item in fake.post_items())
        assert attempts[2] > 0 and attempts[1] > 0 and set(attempts) == {1, 2}, attempts
        assert fake.requests["POST /posts/{id}/items/{itemId}/retry"] == attempts[2]
        assert summary.posts_published == 12 and summary.posts_failed == 0
        entries = [e for r in await store.records() for e in r.posts.values()]
        assert sorted(e.retries for e in entries) == sorted(
            item.attempts - 1 for item in fake.post_items()
        )


async def test_a_revoked_account_fails_its_items_alone(tmp_path: Path) -> None:
    """An account revoked after the check: its items fail after the bounded retries, with the
    reason; the other account's are published; the videos are done."""
    urls = video_urls(2)
    options = RunOptions(out=tmp_path, top_k=1, publish=PublishOptions(ACCOUNTS, retries=1))
    async with simulated() as (fake, cp):
        batch = Batch(cp, options, store := MemoryStore())
        tiktok = next(c["id"] for c in fake.connections() if c["platform"] == "tiktok")

        def revoke(event: object) -> None:
            if type(event).__name__ == "SourcesRead":
                fake.set_connection_status(tiktok, "revoked")

        summary = await batch.run(urls, revoke)
        assert summary.done == 2 and summary.posts_published == 2 and summary.posts_failed == 2
        for record in await store.records():
            assert record.phase == Phase.DONE
            for entry in record.posts.values():
                if entry.connection_id == tiktok:
                    assert entry.status == "failed" and entry.retries == 1
                    assert entry.error and "CONNECTION_REVOKED" in entry.error
                else:
                    assert entry.status == "completed"


async def test_scheduled_posts_are_spaced_per_account_and_never_in_the_past(
    tmp_path: Path,
) -> None:
    """One post per hour per account from the start; a rerun with more videos continues after
    the last slot; a start in the past begins just after the server's now."""
    async with simulated() as (fake, cp):
        await cp.balance.get()
        start = (cp.server_time() + timedelta(days=1)).replace(microsecond=0)
        publish = PublishOptions(ACCOUNTS, schedule=start, spacing=timedelta(hours=1))
        options = RunOptions(out=tmp_path, top_k=1, publish=publish)
        urls = video_urls(6)
        store = await SQLiteStore.open(tmp_path / "state.sqlite")
        try:
            summary = await Batch(cp, options, store).run(urls[:4])
            assert summary.posts_scheduled == 8 and summary.posts_published == 0
            await Batch(cp, options, store).run(urls)
        finally:
            await store.close()
        by_account: dict[str, list] = {}
        for item in fake.post_items():
            by_account.setdefault(item.connection_id, []).append(item.scheduled_at)
        assert len(by_account) == 2
        for slots in by_account.values():
            slots.sort()
            assert slots == [start + timedelta(hours=i) for i in range(6)]

        past = PublishOptions(ACCOUNTS, schedule=start - timedelta(days=3))
        before = cp.server_time()
        await Batch(cp, RunOptions(out=tmp_path / "b", top_k=1, publish=past), MemoryStore()).run(
            video_urls(1)
        )
        newest = fake.post_items()[-2:]
        for item in newest:
            assert item.scheduled_at is not None
            assert (
                before + LEAD <= item.scheduled_at <= cp.server_time() + LEAD + timedelta(seconds=1)
            )


def test_post_metadata_templates_are_checked_before_anything_runs(tmp_path: Path) -> None:
    """Unknown platforms, fields, syntax and values are refused with what there is."""
    with pytest.raises(UsageError, match="unknown platform 'myspace'"):
        check_post_meta({"myspace": {"title": "{title}"}})
    with pytest.raises(UsageError, match=r"unknown field \{titel\}; fields are \{title\}"):
        check_post_meta({"youtube": {"title": "{titel}"}})
    with pytest.raises(UsageError, match="use named fields"):
        check_post_meta({"youtube": {"title": "{}"}})
    with pytest.raises(UsageError, match="cannot be sent"):
        check_post_meta({"youtube": {"when": {"nested": 1}}})
    with pytest.raises(UsageError, match="more than the clips kept"):
        RunOptions(out=tmp_path, top_k=1, publish=PublishOptions(ACCOUNTS, top_k=2))
    with pytest.raises(UsageError, match="time zone"):
        PublishOptions(ACCOUNTS, schedule=__import__("datetime").datetime(2030, 1, 1))
    bad = tmp_path / "meta.toml"
    bad.write_text("[youtube]\ntitle = '{title'\n")
    with pytest.raises(UsageError, match=r"bad post metadata template youtube\.title"):
        load_post_meta(bad)
    good = tmp_path / "good.toml"
    good.write_text('[youtube]\ntitle = "{title} ({rating})"\nprivacyStatus = "unlisted"\n')
    assert load_post_meta(good) == {
        "youtube": {"title": "{title} ({rating})", "privacyStatus": "unlisted"}
    }
