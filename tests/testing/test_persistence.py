"""A simulator's world kept on disk (`FakeCutPro(state_path=...)`): a later one continues it.

Through real HTTP: the client goes on with ids an earlier simulator gave it (submissions
complete, clips list, renders finish and download), credits and ledger survive, a process
killed right after an answer leaves a state that knows what the answer said, and a file that
is not a usable state is refused with a clear error.
"""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import attrs
import orjson
import pytest

from cutpro_async import CutPro, Polling
from cutpro_async.models import RenderStatus, SubmissionStatus
from cutpro_async.testing import FakeCutPro, StateFileError, StateFileLocked
from cutpro_async.testing._media import SAMPLE_MP4_PATH
from cutpro_async.testing._snapshot import every_row
from tests.conftest import RawApi, Reply

from .helpers import poll, video_url

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).parents[2]
FAST_POLLING = Polling(first=0.01, max_interval=0.05)
OWN_TEMPLATE = "80009919218057216"


def client_of(fake: FakeCutPro) -> CutPro:
    """A client of `fake` that polls quickly."""
    return CutPro(fake.api_key, base_url=fake.base_url, polling=FAST_POLLING)


@contextlib.asynccontextmanager
async def raw(fake: FakeCutPro) -> AsyncIterator[RawApi]:
    """Raw HTTP access to a running `fake`."""
    async with aiohttp.ClientSession() as session:
        yield RawApi(session, fake.base_url, fake.api_key)


def saved_rows(path: Path) -> dict[tuple[str, str], tuple[str, bytes]]:
    """Every object row the state file holds, read by a connection of its own."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT kind, id, ws, data FROM objects").fetchall()
    return {(kind, ident): (ws, bytes(data)) for kind, ident, ws, data in rows}


def saved_world(path: Path) -> dict[str, Any]:
    """The world's own row (id, counter, clock, keys) in the state file."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'world'").fetchone()
    data: dict[str, Any] = orjson.loads(value)
    return data


def live_rows(fake: FakeCutPro) -> dict[tuple[str, str], tuple[str, bytes]]:
    """Every object of the running world, encoded as the state file keeps it."""
    return dict(every_row(fake.world))


@attrs.define
class CheckedApi(RawApi):
    """Raw HTTP that checks, after every answer, that the file holds the world as it is."""

    fake: FakeCutPro | None = None
    checked: int = 0

    async def call(self, method: str, path: str, **kwargs: Any) -> Reply:
        """One request, then the check."""
        reply = await super().call(method, path, **kwargs)
        self.check(f"{method} {path}")
        return reply

    def check(self, what: str) -> None:
        """The file holds every object, the id counter and the keys of the running world."""
        fake = self.fake
        assert fake is not None and fake.state_path is not None
        assert saved_rows(fake.state_path) == live_rows(fake), what
        world = saved_world(fake.state_path)
        assert world["next_id"] == fake.world.next_id, what
        assert world["keys"] == {key: list(ws) for key, ws in fake.world.keys.items()}, what
        self.checked += 1


# -- the client continues ----------------------------------------------------------------


async def test_the_client_continues_submissions_and_renders_across_restarts(
    tmp_path: Path,
) -> None:
    """A submission running when the simulator stops completes in the next one, its clips
    list, a render running at the next stop completes in a third one and downloads as an MP4;
    key, workspace, world id, balance and ledger are the same throughout."""
    state = tmp_path / "world.sqlite"
    # A slow clock moved by hand: jobs are surely running at each stop.
    async with FakeCutPro(time_scale=1, state_path=state) as fake, client_of(fake) as cp:
        identity = (fake.api_key, fake.workspace_id, fake.world_id)
        assert fake.restored is False
        info = await cp.videos.analyze(video_url(600))
        created = await cp.submissions.create(info.video_id)
        fake.advance(30)
        before = await cp.submissions.get(info.video_id, created.submission_id)
        ledger, balance = fake.ledger(), fake.balance()
    assert not before.status.is_terminal

    async with FakeCutPro(time_scale=1, state_path=state) as fake, client_of(fake) as cp:
        assert (fake.api_key, fake.workspace_id, fake.world_id) == identity
        assert fake.restored is True
        assert fake.ledger() == ledger and fake.balance() == balance
        again = await cp.submissions.get(info.video_id, created.submission_id)
        assert again.status == before.status  # time stood still while no simulator ran
        assert again.created_at == before.created_at
        fake.advance(3600)
        done = await cp.submissions.wait(info.video_id, created.submission_id)
        assert done.status is SubmissionStatus.COMPLETED
        clips = [c async for c in cp.clips.iter(info.video_id, created.submission_id)]
        assert len(clips) == 3
        render = await cp.renders.create(info.video_id, created.submission_id, clips[0].id)
        fake.advance(5)
        running = await cp.renders.get(render.render_id)
        assert running.status in (RenderStatus.QUEUED, RenderStatus.ACTIVE)

    async with FakeCutPro(time_scale=1, state_path=state) as fake, client_of(fake) as cp:
        listed = [c async for c in cp.clips.iter(info.video_id, created.submission_id)]
        assert [c.id for c in listed] == [c.id for c in clips]
        assert (await cp.renders.get(render.render_id)).status is running.status
        fake.advance(3600)
        finished = await cp.renders.wait(render.render_id)
        assert finished.status is RenderStatus.COMPLETED
        saved = await cp.renders.download(render.render_id, tmp_path / "out")
        assert saved.path.read_bytes()[4:8] == b"ftyp"
        # The cache still knows the finished render: no second render of the clip.
        cached = await cp.renders.create(info.video_id, created.submission_id, clips[0].id)
        assert cached.render_id == render.render_id and cached.from_cache
        assert fake.ledger() == ledger and fake.balance() == balance == 10_000 - 10
        assert fake.charges_per_video() == {info.video_id: 1}
        history = await cp.balance.history()
        assert [t.id for t in history.transactions] == [row.id for row in reversed(ledger)]


async def test_a_key_given_on_restore_is_accepted_as_well(tmp_path: Path) -> None:
    """The saved key keeps working; a key passed when restoring reaches the same workspace."""
    state = tmp_path / "world.sqlite"
    async with FakeCutPro(state_path=state) as fake:
        saved_key = fake.api_key
    async with FakeCutPro(state_path=state, api_key="cp_sim_other") as fake:
        assert fake.api_key == "cp_sim_other"
        for key in (saved_key, "cp_sim_other"):
            async with CutPro(key, base_url=fake.base_url) as cp:
                assert (await cp.workspace.get()).id == fake.workspace_id
    async with FakeCutPro(state_path=state) as fake:
        assert fake.api_key == saved_key
        async with CutPro("cp_sim_other", base_url=fake.base_url) as cp:
            assert (await cp.balance.get()).balance == 10_000


# -- every change is saved before its answer ---------------------------------------------


async def _every_kind_of_change(fake: FakeCutPro, api: RawApi) -> None:
    """Calls that change every kind of object the world holds, each checked to succeed."""

    async def call(method: str, path: str, *expected: int, **kwargs: Any) -> Any:
        reply = await api.call(method, path, **kwargs)
        assert reply.status in (expected or (200,)), (path, reply.json)
        return reply.json

    first = await call("POST", "/clips/info", json={"url": video_url(600)})
    second = await call("POST", "/clips/info", json={"url": video_url(900)})
    # The three-step upload, the PUT to storage included.
    ticket = await call(
        "POST",
        "/videos/upload",
        json={"file_name": "talk.mp4", "file_size": SAMPLE_MP4_PATH.stat().st_size},
    )
    headers = {"Content-Type": "video/mp4"}
    async with api.session.put(
        ticket["upload_url"], data=SAMPLE_MP4_PATH.read_bytes(), headers=headers
    ) as resp:
        assert resp.status == 200
    if isinstance(api, CheckedApi):
        api.check("PUT upload_url")  # storage's answer: the upload is known
    body = {"video_id": ticket["video_id"], "file_name": "talk.mp4", "duration": 62.0}
    await call("POST", "/videos/upload/complete", json={**body, "width": 32, "height": 18})

    subs = {}
    for video in (first, second):
        created = await call("POST", "/clips", 201, json={"video_id": video["video_id"]})
        subs[video["video_id"]] = created["submission_id"]
    fake.advance(7200)
    clips: dict[str, list[str]] = {}
    for video_id, sub_id in subs.items():
        path = f"/clips/{video_id}/submissions/{sub_id}"
        await poll(api, path, lambda s: s["status"] == "completed", fake)
        listed = await call("GET", f"{path}/clips")
        clips[video_id] = [c["id"] for c in listed["clips"]]
    a, b = first["video_id"], second["video_id"]
    path_a = f"/clips/{a}/submissions/{subs[a]}"
    await call(
        "POST",
        f"{path_a}/apply_template",
        202,
        json={"template_id": OWN_TEMPLATE, "clip_ids": clips[a][:2]},
    )
    await call("DELETE", f"{path_a}/clips/{clips[a][-1]}", 204)

    # More renders than slots: some wait, and cancelling one moves the others up.
    renders = []
    targets = [(a, c) for c in clips[a][:2]] + [(b, c) for c in clips[b]]
    for video_id, clip_id in targets:
        path = f"/clips/{video_id}/submissions/{subs[video_id]}/clips/{clip_id}/render"
        renders.append((await call("POST", path, 202))["render_id"])
    assert len(renders) > fake.config.max_concurrent_renders
    await call("DELETE", f"/renders/{renders[-1]}", 204)  # queued: cancelled
    await call("DELETE", f"/renders/{renders[0]}", 204)  # active: cancelled
    fake.advance(7200)
    for render_id in renders[1:3]:
        await poll(api, f"/renders/{render_id}", lambda r: r["status"] == "completed", fake)
    await call("DELETE", f"/renders/{renders[3]}", 204)  # finished: deleted
    job = await call("POST", "/renders/bulk-download", 202, json={"render_ids": renders[1:3]})
    fake.advance(600)
    await poll(api, f"/renders/bulk-download/{job['job_id']}", lambda j: j["download_url"], fake)

    edit_id = (await call("GET", f"/renders/{renders[1]}"))["edit_setting_id"]
    accounts = {c["platform"]: c["id"] for c in (await call("GET", "/connections"))["connections"]}
    targets_json = [{"connectionId": accounts[p]} for p in ("tiktok", "instagram")]
    post = await call(
        "POST", "/posts", 201, json={"videos": [{"editId": edit_id, "targets": targets_json}]}
    )
    fake.advance(600)
    settled = await call("GET", f"/posts/{post['post_id']}")
    failed = next(i for i in settled["items"] if i["status"] == "failed")
    await call("POST", f"/posts/{post['post_id']}/items/{failed['id']}/retry")
    later = (fake.world.clock.wall() + timedelta(hours=2)).astimezone(UTC)
    scheduled = await call(
        "POST",
        "/posts",
        201,
        json={
            "videos": [{"editId": edit_id, "targets": targets_json}],
            "scheduled_at": later.isoformat(),
        },
    )
    path = f"/posts/{scheduled['post_id']}"
    items = (await call("GET", path))["items"]
    change = {"id": items[0]["id"], "metadata": {"tiktok": {"title": "New"}}}
    await call("PATCH", path, json={"items": [change]})
    await call("DELETE", f"{path}/items/{items[1]['id']}", 204)
    await call("POST", f"{path}/publish")
    await call("DELETE", f"/posts/{post['post_id']}", 204)

    uploaded = ticket["video_id"]
    sub_id = (await call("POST", "/clips", 201, json={"video_id": uploaded}))["submission_id"]
    await call("DELETE", f"/clips/{uploaded}/submissions/{sub_id}", 204)
    await call("DELETE", f"/clips/{b}", 204)  # with its submission
    fake.expire_submission(subs[a])
    await call("GET", "/balance")
    await call("GET", "/balance", key=fake.add_key(fake.workspace_id))  # a key, nothing else
    other = fake.add_key(fake.add_workspace(50, "Second"))
    await call("GET", "/balance", key=other)
    reply = await api.post("/clips/info", {"url": video_url()}, key=other)
    assert reply.status == 200, reply.json


async def test_every_change_is_in_the_file_once_its_answer_arrived(tmp_path: Path) -> None:
    """After each answer of calls changing every kind of object, the file holds exactly the
    running world, object for object, the simulator still running; restored, it is the same
    world."""
    state = tmp_path / "world.sqlite"
    async with FakeCutPro(time_scale=60, state_path=state) as fake, raw(fake) as plain:
        api = CheckedApi(plain.session, plain.base_url, plain.api_key, fake)
        await _every_kind_of_change(fake, api)
        assert api.checked >= 40
        live = live_rows(fake)
        assert {kind for kind, _ in live} == {
            "workspace",
            "video",
            "submission",
            "render",
            "bulk",
            "post",
            "ledger",
        }
        assert saved_rows(state) == live
        world = saved_world(state)
        assert world["next_id"] == fake.world.next_id
        assert world["keys"] == {key: list(ws) for key, ws in fake.world.keys.items()}
        fake.advance(600)  # every job ends: the answers below stay as they are
        answers = {
            path: (await api.get(path)).json
            for path in ("/balance/history", "/clips", "/renders", "/posts")
        }
    async with FakeCutPro(time_scale=60, state_path=state) as fake, raw(fake) as api:
        assert live_rows(fake) == live
        for path, answer in answers.items():
            assert (await api.get(path)).json == answer, path


async def test_requests_that_change_nothing_write_nothing(tmp_path: Path) -> None:
    """Polls of an unchanged world leave the file as it was (the clock's lease aside)."""
    state = tmp_path / "world.sqlite"
    async with FakeCutPro(time_scale=60, state_path=state) as fake, raw(fake) as api:
        info = await api.post("/clips/info", {"url": video_url()})
        rows = saved_rows(state)
        for _ in range(20):
            assert (await api.get(f"/clips/{info.json['video_id']}/submissions")).status == 200
            assert (await api.get("/balance")).status == 200
        assert saved_rows(state) == rows


# -- killed right after an answer ----------------------------------------------------------

CHILD = """
import asyncio, os, sys
from pathlib import Path
import orjson
from cutpro_async import CutPro, Polling
from cutpro_async.testing import FakeCutPro

async def main(state, stop_after):
    async with FakeCutPro(time_scale=1, state_path=Path(state)) as fake:
        async with CutPro(fake.api_key, base_url=fake.base_url) as cp:
            seen = {}
            def tell(**ids):
                seen.update(ids, position=fake.world.clock.now())
                sys.stdout.write(orjson.dumps(seen).decode() + "\\n")
                sys.stdout.flush()
                if stop_after in ids:
                    os._exit(0)  # right after the answer: nothing closes, nothing flushes
            info = await cp.videos.analyze("https://www.youtube.com/watch?v=kill&duration=600")
            tell(video_id=info.video_id)
            created = await cp.submissions.create(info.video_id)
            tell(submission_id=created.submission_id)
            fake.advance(3600)
            clips = await cp.clips.list(info.video_id, created.submission_id)
            tell(clip_ids=[c.id for c in clips.clips])
            first = clips.clips[0].id
            render = await cp.renders.create(info.video_id, created.submission_id, first)
            tell(render_id=render.render_id)
    raise SystemExit("not stopped")

asyncio.run(main(*sys.argv[1:]))
"""


def run_killed(state: Path, stop_after: str) -> dict[str, Any]:
    """Run the child until it `os._exit`s right after the answer carrying `stop_after`."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(CHILD), str(state), stop_after],
        capture_output=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    lines = done.stdout.decode().splitlines()
    seen: dict[str, Any] = orjson.loads(lines[-1])
    assert stop_after in seen
    return seen


async def test_killed_right_after_the_paid_answer_the_submission_is_known(
    tmp_path: Path,
) -> None:
    """`os._exit` just after `POST /clips` answered: the restored world has that submission,
    charged once, and it goes on to complete."""
    state = tmp_path / "world.sqlite"
    seen = run_killed(state, "submission_id")
    async with FakeCutPro(time_scale=1, state_path=state) as fake, client_of(fake) as cp:
        assert fake.world.clock.now() >= seen["position"]  # never before a moment shown
        sub = await cp.submissions.get(seen["video_id"], seen["submission_id"])
        assert sub.submission_id == seen["submission_id"]
        assert fake.charges_per_video() == {seen["video_id"]: 1}
        fake.advance(3600)
        done = await cp.submissions.wait(seen["video_id"], seen["submission_id"])
        assert done.status is SubmissionStatus.COMPLETED


async def test_killed_right_after_a_render_answer_clips_and_render_are_known(
    tmp_path: Path,
) -> None:
    """`os._exit` just after a render was queued: the clips listed before and the render are
    known, and the render completes and downloads."""
    state = tmp_path / "world.sqlite"
    seen = run_killed(state, "render_id")
    async with FakeCutPro(time_scale=1, state_path=state) as fake, client_of(fake) as cp:
        assert fake.world.clock.now() >= seen["position"]
        listed = await cp.clips.list(seen["video_id"], seen["submission_id"])
        assert [c.id for c in listed.clips] == seen["clip_ids"]
        fake.advance(3600)
        finished = await cp.renders.wait(seen["render_id"])
        assert finished.status is RenderStatus.COMPLETED
        saved = await cp.renders.download(seen["render_id"], tmp_path / "out")
        assert saved.path.read_bytes()[4:8] == b"ftyp"


# -- the clock -------------------------------------------------------------------------------


async def test_time_does_not_pass_while_no_simulator_runs(tmp_path: Path) -> None:
    """A closed world resumes at the moment it was closed: timestamps go on from there."""
    state = tmp_path / "world.sqlite"
    async with FakeCutPro(time_scale=1, state_path=state) as fake:
        fake.advance(100)
        stopped_at, wall = fake.world.clock.now(), fake.world.clock.wall()
    await anyio.sleep(0.5)  # no simulator runs
    async with FakeCutPro(time_scale=1, state_path=state) as fake:
        assert stopped_at <= fake.world.clock.now() < stopped_at + 0.4
        assert wall <= fake.world.clock.wall() < wall + timedelta(seconds=0.4)


# -- files that are not a usable state -------------------------------------------------------


async def test_a_file_of_anything_else_is_refused_clearly(tmp_path: Path) -> None:
    """Random bytes, another program's SQLite file, a damaged row: `StateFileError` naming
    the file and saying how to start afresh; the file is left as it was."""
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"definitely not a database" * 100)
    with pytest.raises(StateFileError, match="is not a simulator's state or is damaged"):
        FakeCutPro(state_path=junk)
    assert junk.read_bytes() == b"definitely not a database" * 100

    foreign = tmp_path / "record.sqlite"
    with contextlib.closing(sqlite3.connect(foreign)) as db:
        db.execute("CREATE TABLE records (data BLOB)")
        db.commit()
    with pytest.raises(StateFileError, match=r"record\.sqlite is not a simulator's state.*delete"):
        FakeCutPro(state_path=foreign)

    damaged = tmp_path / "world.sqlite"
    async with FakeCutPro(state_path=damaged):
        pass
    with contextlib.closing(sqlite3.connect(damaged)) as db:
        db.execute("UPDATE objects SET data = x'7b6e6f' WHERE kind = 'workspace'")
        db.commit()
    with pytest.raises(StateFileError, match="is damaged"):
        FakeCutPro(state_path=damaged)


async def test_another_format_version_is_refused_and_the_lock_released(tmp_path: Path) -> None:
    """A state written in another format version says which; the failed open leaves no lock
    behind, so the fixed file opens."""
    state = tmp_path / "world.sqlite"
    async with FakeCutPro(state_path=state) as fake:
        key = fake.api_key
    with contextlib.closing(sqlite3.connect(state)) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'version'")
        db.commit()
    with pytest.raises(StateFileError, match="format version 99; this simulator reads version 1"):
        FakeCutPro(state_path=state)
    with contextlib.closing(sqlite3.connect(state)) as db:
        db.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
        db.commit()
    async with FakeCutPro(state_path=state) as fake:
        assert fake.api_key == key


async def test_two_simulators_cannot_share_a_world(tmp_path: Path) -> None:
    """While one simulator keeps a world, a second on the same file is refused."""
    state = tmp_path / "world.sqlite"
    async with FakeCutPro(state_path=state):
        with pytest.raises(StateFileLocked, match="in use by another simulator"):
            FakeCutPro(state_path=state)
    async with FakeCutPro(state_path=state) as fake:
        assert fake.restored


async def test_the_state_file_is_private(tmp_path: Path) -> None:
    """The file keeps the simulator's API key: only its owner may read it."""
    state = tmp_path / "sim" / "world.sqlite"
    async with FakeCutPro(state_path=state):
        pass
    assert state.stat().st_mode & 0o077 == 0
