"""Posting a distributed batch's clips: each (clip, account) once, whoever posts and reruns."""

from __future__ import annotations

import signal
from collections import Counter
from pathlib import Path

import anyio
import orjson
import pytest

from cutpro_async import CutPro
from cutpro_async.batch import PostPlaced, PublishOptions
from cutpro_async.batch.publishing import resolve_accounts
from cutpro_async.distributed import BatchOptions, Tables, enqueue, work
from cutpro_async.distributed.posting import batch_posts, publish_batch
from cutpro_async.testing import FakeCutPro
from tests.batch.conftest import video_urls
from tests.cli.conftest import COMMAND, ROOT, cutpro

from .conftest import FAST_ENGINE, SIM_SETTINGS, fast_client
from .test_cli import env_of

pytestmark = pytest.mark.anyio

ACCOUNTS = ("tiktok:sim_tiktok", "youtube:sim_youtube")


async def test_a_done_batch_is_posted_once_by_concurrent_and_repeated_runs(
    db_url: str, tmp_path: Path
) -> None:
    """Four videos clipped by a worker; then two processes' worth of posting at once, with a
    third of the answers to POST /posts lost after their commit, and a third run: every best
    clip has one item per account, and the rows list them published."""
    urls = video_urls(4, tag="post")
    async with FakeCutPro(faults="drop=0.3@POST /posts", seed=5, **SIM_SETTINGS) as fake:
        await enqueue(db_url, "posted", urls, BatchOptions(top_k=2))

        def client() -> CutPro:
            return fast_client(fake.api_key, fake.base_url)

        report = await work(db_url, "solo-1", tmp_path / "out", client, settings=FAST_ENGINE)
        assert (report.finished, report.failed) == (4, 0)
        options = PublishOptions(ACCOUNTS)
        placed: list[PostPlaced] = []

        async def post() -> None:
            async with client() as cp:
                accounts = await resolve_accounts(cp, options.targets)
                summary = await publish_batch(
                    cp,
                    db_url,
                    "posted",
                    options,
                    accounts,
                    lambda e: placed.append(e) if isinstance(e, PostPlaced) else None,
                )
                assert summary.posts_failed == 0

        async with anyio.create_task_group() as group:
            group.start_soon(post)
            group.start_soon(post)
        sent = fake.requests["POST /posts"]
        await post()
        items = Counter((item.edit_id, item.connection_id) for item in fake.post_items())
        assert len(items) == 8 and set(items.values()) == {1}, items
        assert fake.requests["POST /posts"] == sent  # the third run sent nothing
        assert fake.injected["drop"] > 0 and len(placed) == 8  # adopted ones included
        async with client() as cp:
            posts = await batch_posts(cp, db_url, "posted")
        assert len(posts) == 8 and {source for source, _ in posts} == set(urls)
        assert all(e.status == "completed" and e.published_url for _, e in posts)


async def test_run_db_posts_the_batch_once_it_is_done(db_url: str, tmp_path: Path) -> None:
    """`cutpro run --db … --publish`: the batch clipped, then each best clip posted to both
    accounts; `cutpro posts --db` lists them; a rerun posts nothing; an expired account is
    refused before anything is enqueued."""
    urls = video_urls(3, tag="rundb")
    async with FakeCutPro(**SIM_SETTINGS) as fake:
        env = env_of(fake)
        run = ("run", *urls, "--db", db_url, "--out", tmp_path / "out", "--top-k", "1")
        publish = ("--batch", "pub", "--publish", ",".join(ACCOUNTS))
        done = await cutpro(*run, *publish, env=env)
        assert done.returncode == 0, done.stderr.decode()
        assert "posts: 6 published" in done.stderr.decode()
        listed = await cutpro("posts", "--db", db_url, "--json", env=env)
        assert listed.returncode == 0, listed.stderr.decode()
        rows = [orjson.loads(line) for line in listed.stdout.splitlines()]
        assert len(rows) == 6 and {row["status"] for row in rows} == {"completed"}
        again = await cutpro(*run, *publish, env=env)
        assert again.returncode == 0 and "nothing left to post" in again.stderr.decode()
        assert fake.requests["POST /posts"] == 6
        refused = await cutpro(
            *run, "--batch", "other", "--publish", "instagram:sim_instagram", env=env
        )
        assert refused.returncode == 2 and "is expired" in refused.stderr.decode()
        async with Tables(db_url) as tables:
            assert await tables.batches() == ["pub"]


async def test_run_db_killed_while_posting_posts_each_clip_once(
    db_url: str, tmp_path: Path
) -> None:
    """`cutpro run --db … --publish` on 12 videos with a third of the answers to POST /posts
    lost after their commit, SIGKILLed three times while posting (after the 3rd, 9th and 15th
    POST /posts) and run again until it ends: each best clip has exactly one item per
    account, and the database lists them published."""
    urls = video_urls(12, tag="killpost")
    async with FakeCutPro(faults="drop=0.3@POST /posts", seed=9, **SIM_SETTINGS) as fake:
        command = [
            *COMMAND,
            "run",
            *urls,
            "--db",
            db_url,
            "--out",
            str(tmp_path / "out"),
            "--top-k",
            "1",
            "--batch",
            "killed",
            "--publish",
            ",".join(ACCOUNTS),
        ]
        codes = []
        for run in range(8):
            async with await anyio.open_process(
                command, env=env_of(fake), cwd=ROOT, stdout=None, stderr=None
            ) as process:
                if run < 3:
                    with anyio.move_on_after(60):
                        while fake.requests["POST /posts"] < 3 + 6 * run:
                            await anyio.sleep(0.01)
                    process.send_signal(signal.SIGKILL)
                codes.append(await process.wait())
            if codes[-1] == 0:
                break
        assert codes[:3] == [-signal.SIGKILL] * 3 and codes[-1] == 0, codes
        items = Counter((item.edit_id, item.connection_id) for item in fake.post_items())
        assert len(items) == 24 and set(items.values()) == {1}, items
        assert sum(fake.charges_per_video().values()) == 12
        async with fast_client(fake.api_key, fake.base_url) as cp:
            posts = await batch_posts(cp, db_url, "killed")
        assert len(posts) == 24 and {e.status for _, e in posts} == {"completed"}
