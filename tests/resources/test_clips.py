"""`clips` and `templates` against the simulator: pages, sorting, templates, deletion."""

from __future__ import annotations

import pytest

from cutpro_async import Conflict, CutPro, Expired, NotFound
from cutpro_async.models import Clip, ClipPage, Template, TemplateApplied, TemplatePage
from cutpro_async.testing import FakeCutPro

from .conftest import completed_submission, jumped_submission, make_client, video_url

pytestmark = pytest.mark.anyio


async def own_template(cp: CutPro) -> Template:
    """A template of the workspace itself (public ones cannot be applied as they are)."""
    page = await cp.templates.list(filter="mine")
    return page.templates[0]


async def test_list_is_a_typed_page_best_rated_first(client: CutPro) -> None:
    """`clips.list` returns `Clip` rows sorted by rating, highest first, by default."""
    done = await completed_submission(client, duration=1200)
    page = await client.clips.list(done.video_id, done.submission_id)
    assert isinstance(page, ClipPage)
    assert all(isinstance(c, Clip) for c in page.clips)
    assert len(page.clips) == 6
    ratings = [c.rating for c in page.clips]
    assert ratings == sorted(ratings, reverse=True)
    clip = page.clips[0]
    assert 0 < clip.duration <= 90
    assert clip.download_url is not None
    assert "signature=" not in repr(clip)


async def test_list_sorts_filters_and_pages(client: CutPro) -> None:
    """`sort`/`order`, `min_rating` and `limit`/`page` are applied by the server."""
    done = await completed_submission(client, duration=1200)
    by_start = await client.clips.list(
        done.video_id, done.submission_id, sort="start_time", order="asc"
    )
    starts = [c.start_time for c in by_start.clips]
    assert starts == sorted(starts)
    middle = sorted(c.rating for c in done.clips)[3]
    good = await client.clips.list(done.video_id, done.submission_id, min_rating=middle)
    assert good.clips
    assert all(c.rating >= middle for c in good.clips)
    second = await client.clips.list(done.video_id, done.submission_id, limit=4, page=2)
    assert len(second.clips) == 2
    assert second.pagination.total_pages == 2


async def test_iter_yields_every_clip_in_one_request(client: CutPro, fake: FakeCutPro) -> None:
    """`clips.iter` walks all clips and stops when there is no next page."""
    done = await completed_submission(client)
    before = fake.requests["GET /clips/{videoId}/submissions/{submissionId}/clips"]
    walked = [c.id async for c in client.clips.iter(done.video_id, done.submission_id)]
    assert sorted(walked) == sorted(c.id for c in done.clips)
    after = fake.requests["GET /clips/{videoId}/submissions/{submissionId}/clips"]
    assert after - before == 1


async def test_iter_in_small_pages_reads_only_what_is_taken(
    client: CutPro, fake: FakeCutPro
) -> None:
    """`page_size` pages the walk: every clip still comes, best first; a caller that stops
    after the first clip has made one request for one clip."""
    done = await completed_submission(client)
    route = "GET /clips/{videoId}/submissions/{submissionId}/clips"
    before = fake.requests[route]
    walked = [c async for c in client.clips.iter(done.video_id, done.submission_id, page_size=2)]
    assert sorted(c.id for c in walked) == sorted(c.id for c in done.clips)
    assert [c.rating for c in walked] == sorted((c.rating for c in walked), reverse=True)
    assert fake.requests[route] - before == -(-len(done.clips) // 2)
    before = fake.requests[route]
    async for _ in client.clips.iter(done.video_id, done.submission_id, page_size=1):
        break
    assert fake.requests[route] - before == 1


async def test_apply_template_marks_the_clips(client: CutPro) -> None:
    """`apply_template` returns how many clips it styled; those clips show it."""
    done = await completed_submission(client)
    template = await own_template(client)
    applied = await client.clips.apply_template(
        done.video_id, done.submission_id, template.id, [done.clips[0].id]
    )
    assert isinstance(applied, TemplateApplied)
    assert applied.total == 1
    page = await client.clips.list(done.video_id, done.submission_id)
    marked = {c.id for c in page.clips if c.has_template_applied}
    assert marked == {done.clips[0].id}


async def test_apply_template_waits_out_a_running_batch() -> None:
    """A second batch while the first runs meets a 429 with a wait; the client retries it."""
    async with FakeCutPro(time_scale=10) as fake, make_client(fake) as cp:
        done = await jumped_submission(fake, cp)
        template = await own_template(cp)
        first = await cp.clips.apply_template(done.video_id, done.submission_id, template.id)
        second = await cp.clips.apply_template(done.video_id, done.submission_id, template.id)
        assert first.total == second.total == len(done.clips)
        route = "POST /clips/{videoId}/submissions/{submissionId}/apply_template"
        assert fake.requests[route] == 3


async def test_apply_a_public_template_is_not_found(client: CutPro) -> None:
    """A community template must be copied first: 404 `TEMPLATE_NOT_FOUND`."""
    done = await completed_submission(client)
    public = (await client.templates.list(filter="community")).templates[0]
    with pytest.raises(NotFound) as caught:
        await client.clips.apply_template(done.video_id, done.submission_id, public.id)
    assert caught.value.code == "TEMPLATE_NOT_FOUND"


async def test_delete_returns_none_and_removes_the_clip(client: CutPro) -> None:
    """`clips.delete` returns None; the clip leaves the list; deleting it again is 404."""
    done = await completed_submission(client)
    gone = done.clips[0].id
    assert await client.clips.delete(done.video_id, done.submission_id, gone) is None
    left = await client.clips.list(done.video_id, done.submission_id)
    assert gone not in {c.id for c in left.clips}
    assert len(left.clips) == len(done.clips) - 1
    with pytest.raises(NotFound):
        await client.clips.delete(done.video_id, done.submission_id, gone)


async def test_clips_of_a_running_submission_are_a_conflict() -> None:
    """Listing clips before the job finished is a 409 `Conflict` (poll first)."""
    async with FakeCutPro(time_scale=1) as fake, make_client(fake) as cp:
        info = await cp.videos.analyze(video_url(600))
        created = await cp.submissions.create(info.video_id)
        with pytest.raises(Conflict) as caught:
            await cp.clips.list(info.video_id, created.submission_id)
        assert caught.value.code == "SUBMISSION_NOT_COMPLETED"


async def test_clips_of_an_expired_submission_are_expired(client: CutPro, fake: FakeCutPro) -> None:
    """Once a submission's clips expire, listing them is 410 `Expired`."""
    done = await completed_submission(client)
    fake.expire_submission(done.submission_id)
    with pytest.raises(Expired) as caught:
        await client.clips.list(done.video_id, done.submission_id)
    assert caught.value.status == 410
    assert caught.value.code == "SUBMISSION_EXPIRED"


async def test_templates_list_filters_and_iter(client: CutPro, fake: FakeCutPro) -> None:
    """`templates.list` is a typed page; `filter` splits own and public; `iter` walks all."""
    page = await client.templates.list()
    assert isinstance(page, TemplatePage)
    assert all(isinstance(t, Template) for t in page.templates)
    mine = await client.templates.list(filter="mine")
    community = await client.templates.list(filter="community")
    assert not any(t.is_public for t in mine.templates)
    assert all(t.is_public for t in community.templates)
    assert len(mine.templates) + len(community.templates) == len(page.templates)
    by_name = await client.templates.list(sort="name")
    assert [t.name for t in by_name.templates] == sorted(t.name for t in page.templates)
    fake.requests.clear()
    walked = [t.id async for t in client.templates.iter()]
    assert sorted(walked) == sorted(t.id for t in page.templates)
    assert fake.requests["GET /templates"] == 1
