"""`cutpro gallery OUT`: the page of a real run, opened in headless Chromium; its errors.

The browser test FAILS (never skips) when Debian's chromium is missing: CI installs it.
Set CUTPRO_GALLERY_PNG=path to keep the screenshot (docs/gallery.png was made so, then
reduced to a 256-colour palette).
"""

from __future__ import annotations

import hashlib
import os
from collections import Counter
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from cutpro_async.batch import ChosenClip, Phase, Record, SavedFile, SQLiteStore
from cutpro_async.testing import FakeCutPro
from cutpro_async.testing._media import sample_mp4

from ._chromium import Page, chromium, chromium_binary
from .conftest import base_env, check_manifest, cutpro, env_for, write_list

pytestmark = pytest.mark.anyio

#: Waits for every player's metadata (or error); then what each one knows.
PLAYERS = """(async () => {
  const videos = [...document.querySelectorAll("video")];
  await Promise.all(videos.map((v) => v.readyState >= 1 || v.error ? null : new Promise((r) => {
    v.addEventListener("loadedmetadata", r, {once: true});
    v.addEventListener("error", r, {once: true});
  })));
  return videos.map((v) => ({
    src: v.getAttribute("src"), url: v.currentSrc, duration: v.duration,
    readyState: v.readyState, error: v.error && v.error.code,
    width: v.videoWidth, height: v.videoHeight,
  }));
})()"""

#: Plays every player (muted) until a decoded frame is presented, then stops at 0:05.
DECODE = """(async () => {
  const videos = [...document.querySelectorAll("video")];
  await Promise.all(videos.map(async (v) => {
    v.muted = true;
    const shown = new Promise((r) => v.requestVideoFrameCallback(r));
    await v.play();
    await shown;
    v.pause();
    const seeked = new Promise((r) => v.addEventListener("seeked", r, {once: true}));
    v.currentTime = 5;
    await seeked;
  }));
  return videos.map((v) => v.getVideoPlaybackQuality().totalVideoFrames);
})()"""

#: Which clips are visible (by video and title) and what the filter says.
VISIBLE = """(() => {
  const clips = [...document.querySelectorAll("article.clip")];
  const seen = clips.filter((c) => c.getClientRects().length > 0);
  const filter = document.getElementById("filter");
  return {
    videos: seen.map((c) => c.dataset.video),
    titles: seen.map((c) => c.querySelector("h2").textContent),
    ratings: seen.map((c) => c.querySelector(".rating").textContent),
    filter: filter.getClientRects().length > 0,
    shown: document.getElementById("shown").textContent,
  };
})()"""


def choose(value: str) -> str:
    """Pick a video in the filter as a person would (a change event)."""
    return (
        f'(() => {{ const s = document.getElementById("video"); s.value = "{value}"; '
        's.dispatchEvent(new Event("change")); return s.value; })()'
    )


def url(tag: str, duration: int) -> str:
    """A simulated video URL."""
    return f"https://www.youtube.com/watch?v={tag}&duration={duration}"


async def test_gallery_of_a_run_plays_every_clip_in_chromium(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """After a real run (simulator), `cutpro gallery OUT` prints OUT/index.html; in headless
    Chromium every player's metadata loads (a 62 s, 32x18 H.264 clip, no error) and decodes
    frames, there is one player per clip, best-rated first, the filter keeps one video's clips,
    with JavaScript off everything shows, and nothing is fetched but the page's own files."""
    chromium_binary()  # fail at once, before the run, when the browser is missing
    urls = [url(f"gallery{i}", 600 + 300 * i) for i in range(4)]
    out = tmp_path / "my clips"  # a space in the folder, and `#`, `%`, spaces in the names
    naming = "{rank} #{clip_id} 100%.mp4"
    ran = await cutpro(
        "run", f"@{write_list(tmp_path, urls)}", "--out", out, "--top-k", "3",
        "--naming", naming, env=env_for(fake),
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr.decode()
    rows = check_manifest(out, 12)
    done = await cutpro("gallery", out, env=base_env())
    assert done.returncode == 0, done.stderr.decode()
    page = out / "index.html"
    assert done.stdout.decode().strip() == str(page)

    async with chromium(tmp_path / "profile") as browser:
        await browser.open(page.as_uri())
        players = await browser.evaluate(PLAYERS)
        assert len(players) == len(rows) == 12
        assert sorted(unquote(p["src"]) for p in players) == sorted(
            "./" + Path(row["path"]).name for row in rows
        )
        for player in players:
            assert urlsplit(player["url"]).scheme == "file", player
            assert player["error"] is None, player
            assert player["readyState"] >= 1 and player["duration"] > 0, player
            assert (player["duration"], player["width"], player["height"]) == (62, 32, 18)
        frames = await browser.evaluate(DECODE)
        assert all(count >= 1 for count in frames), frames

        everything = await browser.evaluate(VISIBLE)
        ratings = [float(text.strip("★ /10")) for text in everything["ratings"]]
        assert ratings == sorted((row["rating"] for row in rows), reverse=True)
        assert Counter(everything["titles"]) == Counter(row["title"] for row in rows)
        assert everything["filter"] and everything["shown"] == "12 clips shown"
        for index, source in enumerate(urls):
            assert await browser.evaluate(choose(f"v{index}")) == f"v{index}"
            one = await browser.evaluate(VISIBLE)
            assert one["videos"] == [f"v{index}"] * 3, one
            assert sorted(one["titles"]) == sorted(
                r["title"] for r in rows if r["source"] == source
            )
            assert one["shown"] == "3 clips shown"
        await browser.evaluate(choose(""))
        assert (await browser.evaluate(VISIBLE))["videos"] == everything["videos"]

        shot = await browser.screenshot()
        assert shot.startswith(b"\x89PNG\r\n\x1a\n")
        keep_screenshot(shot, tmp_path / "gallery.png")

        await browser.call("Emulation.setScriptExecutionDisabled", value=True)
        await browser.open(page.as_uri())
        without_js = await browser.evaluate(VISIBLE)
        assert Counter(without_js["videos"]) == Counter(f"v{i}" for i in range(4) for _ in "abc")
        assert not without_js["filter"]  # no control that would do nothing

        assert_only_local(browser, out)


def keep_screenshot(shot: bytes, path: Path) -> None:
    """Save the screenshot, and also at $CUTPRO_GALLERY_PNG when set."""
    path.write_bytes(shot)
    if keep := os.environ.get("CUTPRO_GALLERY_PNG"):
        Path(keep).write_bytes(shot)


def assert_only_local(browser: Page, out: Path) -> None:
    """Every request the page made was for a file in OUT (or the player's own data: icons);
    no script error, no console error (a CSP violation would be one)."""
    requested = [p["request"]["url"] for m, p in browser.events if m == "Network.requestWillBeSent"]
    assert requested
    for address in requested:
        parts = urlsplit(address)
        assert parts.scheme in ("file", "data"), address
        if parts.scheme == "file":
            assert Path(unquote(parts.path)).parent == out, address
    problems = [
        (method, params)
        for method, params in browser.events
        if method == "Runtime.exceptionThrown"
        or (method == "Log.entryAdded" and params["entry"]["level"] == "error")
        or (method == "Runtime.consoleAPICalled" and params["type"] == "error")
    ]
    assert problems == []


async def test_gallery_errors_are_one_line(tmp_path: Path) -> None:
    """No OUT, or no record in it: one error line, exit 2 (and no record created). A record
    held by a running `cutpro run`: one line saying so, exit 1. `--state` names a record kept
    elsewhere."""
    env = base_env()
    missing = await cutpro("gallery", tmp_path / "nowhere", env=env)
    assert missing.returncode == 2
    assert missing.stderr.decode().splitlines() == [
        f"error: no folder {tmp_path / 'nowhere'}: give the --out folder of a `cutpro run`"
    ]

    empty = await cutpro("gallery", tmp_path, env=env)
    assert empty.returncode == 2
    [line] = empty.stderr.decode().splitlines()
    assert line.startswith(f"error: no run record at {tmp_path / '.cutpro-state.sqlite'}")
    assert not (tmp_path / ".cutpro-state.sqlite").exists()  # nothing created by asking

    out = tmp_path / "out"
    state = tmp_path / "elsewhere.sqlite"
    store = await SQLiteStore.open(state)
    await store.save(saved_record(out))
    await store.close()
    done = await cutpro("gallery", out, "--state", state, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == f"{out / 'index.html'}\n"
    assert (out / "index.html").read_text().count("<video ") == 1

    store = await SQLiteStore.open(state)  # as a run in progress holds it
    try:
        during = await cutpro("gallery", out, "--state", state, env=env)
    finally:
        await store.close()
    assert during.returncode == 0, during.stderr.decode()
    assert during.stdout.decode() == f"{out / 'index.html'}\n"


def saved_record(out: Path) -> Record:
    """A finished record with one clip file written in `out`."""
    out.mkdir()
    path = out / "clip.mp4"
    path.write_bytes(sample_mp4())
    digest = hashlib.sha256(sample_mp4()).hexdigest()
    clip = ChosenClip("c1", "A clip", 7.5, 62, 107)
    saved = SavedFile("c1", "r1", str(path), len(sample_mp4()), digest)
    return Record("https://example.test/v", 0, Phase.DONE, clips=[clip], files=[saved])
