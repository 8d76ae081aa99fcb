"""`posts` and `connections` against the simulator: publish, schedule, retry, delete."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import anyio
import attrs
import pytest

from cutpro_async import Conflict, CutPro, NotFound
from cutpro_async.models import (
    Connection,
    ConnectionPage,
    Post,
    PostCreated,
    PostItemStatus,
    PostPage,
    PostStatus,
    PostTarget,
    PostVideo,
)
from cutpro_async.testing import FakeCutPro

from .conftest import POLL_DELAY, POLL_TRIES, completed_render, completed_submission

pytestmark = pytest.mark.anyio


@attrs.frozen
class Setup:
    """A client with one completed render and the workspace's accounts by platform."""

    cp: CutPro
    fake: FakeCutPro
    edit_id: str
    accounts: dict[str, str]

    def videos(self, *platforms: str) -> list[PostVideo]:
        """The render, to the accounts of these platforms."""
        targets = [PostTarget(self.accounts[p], {p: {"title": "Hi"}}) for p in platforms]
        return [PostVideo(self.edit_id, targets)]

    async def settle(self, post_id: str) -> Post:
        """Poll a post until it is terminal (bounded)."""
        for _ in range(POLL_TRIES):
            post = await self.cp.posts.get(post_id)
            if post.status.is_terminal:
                return post
            await anyio.sleep(POLL_DELAY)
        raise AssertionError(f"post {post_id} never finished: {post}")


@pytest.fixture
async def setup(client: CutPro, fake: FakeCutPro) -> AsyncIterator[Setup]:
    """The `client` with a completed render to publish."""
    done = await completed_submission(client)
    render = await completed_render(client, done)
    page = await client.connections.list()
    yield Setup(client, fake, render.edit_setting_id, {c.platform: c.id for c in page.connections})


def later(hours: float = 1) -> datetime:
    """A time in the future."""
    return datetime.now(UTC) + timedelta(hours=hours)


async def test_create_publishes_now_and_completes(setup: Setup) -> None:
    """`create` returns a `PostCreated`; `get` follows the post to `completed` with its items."""
    created = await setup.cp.posts.create(setup.videos("tiktok", "youtube"))
    assert isinstance(created, PostCreated)
    assert created.item_count == 2
    post = await setup.settle(created.post_id)
    assert isinstance(post, Post)
    assert post.status is PostStatus.COMPLETED
    assert {i.status for i in post.items} == {PostItemStatus.COMPLETED}
    assert all(i.published_url for i in post.items)


async def test_list_and_iter_show_posts_newest_first(setup: Setup) -> None:
    """`list` is a typed page filtered by status; `iter` walks every post."""
    first = await setup.cp.posts.create(setup.videos("tiktok"))
    second = await setup.cp.posts.create(setup.videos("tiktok"), scheduled_at=later())
    page = await setup.cp.posts.list()
    assert isinstance(page, PostPage)
    assert [p.post_id for p in page.posts] == [second.post_id, first.post_id]
    pending = await setup.cp.posts.list(status="pending")
    assert [p.post_id for p in pending.posts] == [second.post_id]
    setup.fake.requests.clear()
    walked = [p.post_id async for p in setup.cp.posts.iter()]
    assert walked == [second.post_id, first.post_id]
    assert setup.fake.requests["GET /posts"] == 1


async def test_schedule_update_and_publish(setup: Setup) -> None:
    """A scheduled post is `pending`; `update` reschedules it; `publish` starts it now."""
    created = await setup.cp.posts.create(setup.videos("youtube"), scheduled_at=later(1))
    assert created.status is PostStatus.PENDING
    assert created.scheduled_at is not None
    post = await setup.cp.posts.get(created.post_id)
    item = post.items[0]
    updated = await setup.cp.posts.update(
        created.post_id,
        scheduled_at=later(2),
        items=[{"id": item.id, "metadata": {"youtube": {"title": "New"}}}],
    )
    assert isinstance(updated, Post)
    assert updated.status is PostStatus.PENDING
    assert updated.scheduled_at is not None
    assert updated.scheduled_at > created.scheduled_at
    published = await setup.cp.posts.publish(created.post_id)
    assert isinstance(published, Post)
    assert published.status is not PostStatus.PENDING
    assert (await setup.settle(created.post_id)).status is PostStatus.COMPLETED
    with pytest.raises(Conflict) as caught:
        await setup.cp.posts.update(created.post_id, scheduled_at=later(3))
    assert caught.value.code == "POST_ALREADY_PUBLISHED"


async def test_a_failed_item_can_be_retried(setup: Setup) -> None:
    """An item to an expired account fails; `retry_item` restarts it; others can't be retried."""
    created = await setup.cp.posts.create(setup.videos("instagram", "tiktok"))
    post = await setup.settle(created.post_id)
    assert post.status is PostStatus.PARTIAL
    failed = next(i for i in post.items if i.status is PostItemStatus.FAILED)
    fine = next(i for i in post.items if i.status is PostItemStatus.COMPLETED)
    assert failed.error
    retried = await setup.cp.posts.retry_item(created.post_id, failed.id)
    assert isinstance(retried, Post)
    assert retried.post_id == created.post_id
    with pytest.raises(Conflict) as caught:
        await setup.cp.posts.retry_item(created.post_id, fine.id)
    assert caught.value.code == "ITEM_NOT_FAILED"


async def test_delete_item_and_delete_return_none(setup: Setup) -> None:
    """`delete_item` drops one item, `delete` the post: both None; the post is then 404."""
    created = await setup.cp.posts.create(setup.videos("tiktok", "youtube"), scheduled_at=later())
    post = await setup.cp.posts.get(created.post_id)
    assert await setup.cp.posts.delete_item(created.post_id, post.items[0].id) is None
    assert (await setup.cp.posts.get(created.post_id)).item_count == 1
    assert await setup.cp.posts.delete(created.post_id) is None
    with pytest.raises(NotFound):
        await setup.cp.posts.get(created.post_id)


async def test_create_with_an_unknown_render_is_not_found(setup: Setup) -> None:
    """Posting an `editId` that is no completed render of the workspace is 404."""
    video = PostVideo("e-nope", [PostTarget(setup.accounts["tiktok"])])
    with pytest.raises(NotFound):
        await setup.cp.posts.create([video])


async def test_connections_list_iter_and_get(client: CutPro, fake: FakeCutPro) -> None:
    """`connections` lists typed accounts, filters by platform, walks and gets one."""
    page = await client.connections.list()
    assert isinstance(page, ConnectionPage)
    assert all(isinstance(c, Connection) for c in page.connections)
    assert {c.platform for c in page.connections} == {"tiktok", "youtube", "instagram"}
    tiktok = await client.connections.list(platform="tiktok")
    assert [c.platform for c in tiktok.connections] == ["tiktok"]
    one = await client.connections.get(tiktok.connections[0].id)
    assert one == tiktok.connections[0]
    fake.requests.clear()
    walked = [c.id async for c in client.connections.iter()]
    assert sorted(walked) == sorted(c.id for c in page.connections)
    assert fake.requests["GET /connections"] == 1
    with pytest.raises(NotFound):
        await client.connections.get("cn-nope")


async def test_list_reads_a_data_envelope_without_items_or_pagination(setup: Setup) -> None:
    """`GET /posts`'s shape is a GAP: `{data: [...]}` with neither items nor pagination is
    read too, a full page taken to mean another may follow."""
    for _ in range(5):
        await setup.cp.posts.create(setup.videos("tiktok"))
    world = setup.fake.world
    world.config = attrs.evolve(world.config, posts_list_style="data")
    first = await setup.cp.posts.list(page=1, limit=2)
    assert len(first.posts) == 2 and first.pagination.has_next_page
    assert first.posts[0].items == [] and first.posts[0].item_count == 0
    last = await setup.cp.posts.list(page=3, limit=2)
    assert len(last.posts) == 1 and not last.pagination.has_next_page
    assert len([post async for post in setup.cp.posts.iter()]) == 5
