"""The gallery page, OUT/index.html: escaping, links, order, totals, and nothing from the network.

The page in a real browser (players load, filter works) is tested in tests/cli/test_gallery.py.
"""

from __future__ import annotations

import base64
import hashlib
import os
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from cutpro_async.batch import ChosenClip, Phase, PostEntry, Record, SavedFile, write_gallery
from cutpro_async.batch.gallery import render_gallery

HOSTILE = "<script>alert(1)</script>"


class Parsed(HTMLParser):
    """Every start tag with its attributes, and the text of each `<script>` and `<style>`."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.inline: dict[str, list[str]] = {"script": [], "style": []}
        self.text: list[str] = []
        self._in: str | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Keep the tag; note when its text is a script or style."""
        self.tags.append((tag, {name: value or "" for name, value in attrs}))
        self._in = tag if tag in self.inline else None

    def handle_endtag(self, tag: str) -> None:
        """Leave a script or style."""
        self._in = None

    def handle_data(self, data: str) -> None:
        """Inline code, or page text."""
        if self._in is not None:
            self.inline[self._in].append(data)
        else:
            self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        """The attributes of every `tag`."""
        return [attrs for name, attrs in self.tags if name == tag]

    def titles(self) -> list[str]:
        """The clip titles, in page order."""
        return [t for t in (s.strip() for s in self.text) if t.startswith("Clip ")]


def clip_file(out: Path, name: str, size: int = 1000) -> SavedFile:
    """A clip's file written in `out`, and its saved entry."""
    path = out / name
    path.write_bytes(b"x" * size)
    return SavedFile(
        f"c-{name}", f"r-{name}", str(path), size, hashlib.sha256(path.read_bytes()).hexdigest()
    )


def record(
    source: str,
    position: int,
    out: Path,
    clips: list[tuple[str, float, float, float]],
    phase: Phase = Phase.DONE,
    charged: float = 10,
) -> Record:
    """A finished record whose clips (title, rating, start, end) each have a file in `out`."""
    files = [clip_file(out, f"{position}-{n}.mp4") for n in range(len(clips))]
    chosen = [
        ChosenClip(saved.clip_id, title, rating, start, end)
        for saved, (title, rating, start, end) in zip(files, clips, strict=True)
    ]
    return Record(
        source,
        position,
        phase,
        video_id=f"v{position}",
        credits_charged=charged,
        submission_id=f"s{position}",
        clips=chosen,
        files=files,
    )


def test_titles_and_sources_from_the_api_are_escaped(tmp_path: Path) -> None:
    """A title `<script>alert(1)</script>` and a source URL that closes its attribute are shown
    as text: the page holds exactly one script, its own."""
    source = 'https://example.test/watch?v=1&x="><script>alert(2)</script>'
    records = [record(source, 0, tmp_path, [(HOSTILE, 9.0, 0, 30), ("Clip & <b>", 5, 0, 9)])]
    path = write_gallery(records, tmp_path)
    page = path.read_text()
    parsed = Parsed(page)
    assert page.count("<script") == 1 and "alert(" not in "".join(parsed.inline["script"])
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE in parsed.text and "Clip & <b>" in parsed.text
    assert [a["href"] for a in parsed.all("a") if a.get("class") == "source"] == [source] * 2
    assert not parsed.all("b")


def test_each_clip_says_where_it_was_posted(tmp_path: Path) -> None:
    """A published post links to its page (http(s) only), a failed one names its error code,
    a scheduled one its time; account names and errors are escaped."""
    rec = record("https://v.test/1", 0, tmp_path, [("Clip A", 9, 0, 30), ("Clip B", 8, 0, 9)])
    first, second = (saved.clip_id for saved in rec.files)
    rec.posts = {
        "a": PostEntry(
            first,
            "cn1",
            "youtube:<i>me</i>",
            status="completed",
            published_url="https://youtube.example/p/1",
        ),
        "b": PostEntry(
            first, "cn2", "tiktok:me", status="completed", published_url="javascript:alert(3)"
        ),
        "c": PostEntry(
            second,
            "cn1",
            "youtube:<i>me</i>",
            status="failed",
            error="CONNECTION_REVOKED: <b>reconnect</b>",
        ),
        "d": PostEntry(
            second,
            "cn2",
            "tiktok:me",
            status="pending",
            scheduled_at=datetime(2030, 1, 15, 9, tzinfo=UTC),
        ),
    }
    page = write_gallery([rec], tmp_path).read_text()
    parsed = Parsed(page)
    links = [a["href"] for a in parsed.all("a") if "example" in a["href"] or "java" in a["href"]]
    assert links == ["https://youtube.example/p/1"]
    assert not parsed.all("i") and not parsed.all("b")
    text = " ".join(parsed.text)
    assert "youtube:<i>me</i>" in text and "post to tiktok:me: completed" in text
    assert "failed: " in text and "CONNECTION_REVOKED" in text
    assert "scheduled for 2030-01-15 09:00+00:00" in text


def test_file_names_are_url_encoded_relative_links(tmp_path: Path) -> None:
    """Spaces, `#`, `?`, `%`, colons and non-ASCII in a file name are URL-encoded in `src` and
    `href`, relative to OUT, and decode back to the name."""
    name = "best clip #1? 100%: été.mp4"
    saved = clip_file(tmp_path, name)
    rec = Record("https://example.test/v", 0, Phase.DONE, clips=[], files=[saved])
    parsed = Parsed(write_gallery([rec], tmp_path).read_text())
    [video] = parsed.all("video")
    src = video["src"]
    assert src == "./best%20clip%20%231%3F%20100%25%3A%20%C3%A9t%C3%A9.mp4"
    assert not urlsplit(src).scheme and not urlsplit(src).netloc
    assert (tmp_path / unquote(src)).read_bytes() == (tmp_path / name).read_bytes()
    assert [a["href"] for a in parsed.all("a") if a.get("class") == "file"] == [src]
    assert (video.get("controls"), video["preload"]) == ("", "metadata")


def test_clips_are_sorted_by_rating_best_first(tmp_path: Path) -> None:
    """Across videos, the best-rated clip comes first; ties keep source order, then time."""
    records = [
        record(
            "https://example.test/a",
            0,
            tmp_path,
            [("Clip a1", 3.0, 0, 10), ("Clip a2", 9.5, 0, 10)],
        ),
        record(
            "https://example.test/b",
            1,
            tmp_path,
            [("Clip b1", 7.1, 50, 60), ("Clip b2", 9.5, 0, 10), ("Clip b3", 7.1, 20, 30)],
        ),
    ]
    parsed = Parsed(render_gallery(records, tmp_path))
    assert parsed.titles() == ["Clip a2", "Clip b2", "Clip b3", "Clip b1", "Clip a1"]
    assert [a["data-video"] for a in parsed.all("article")] == ["v0", "v1", "v1", "v1", "v0"]


def test_time_ranges_ratings_and_totals(tmp_path: Path) -> None:
    """Each clip shows its range in the source (m:ss, h:mm:ss past an hour) and its rating;
    the header sums videos per phase, clips, size and credits."""
    records = [
        record(
            "https://example.test/a",
            0,
            tmp_path,
            [("Clip one", 8.25, 62.4, 107), ("Clip two", 6, 3723, 3750)],
        ),
        record("https://example.test/b", 1, tmp_path, [], Phase.FAILED, charged=5),
        Record("https://example.test/c", 2, Phase.SKIPPED),
        Record("https://example.test/d", 3, Phase.CLIPPED),
    ]
    page = render_gallery(records, tmp_path)
    assert "1:02&ndash;1:47" in page and "1:02:03&ndash;1:02:30" in page
    assert "★ 8.25/10" in page and "★ 6/10" in page
    totals = (
        "4 videos: 1 done · 1 failed · 1 skipped · 1 unfinished · 2 clips · 2.0 KiB · "
        "15 credits spent"
    )
    assert totals in page


def test_only_files_on_disk_are_shown(tmp_path: Path) -> None:
    """A recorded file missing from OUT gets no player (the header says so); a file of a moved
    OUT is found by its name in the folder given."""
    out = tmp_path / "out"
    out.mkdir()
    rec = record("https://example.test/a", 0, out, [("Clip kept", 5, 0, 1), ("Clip gone", 9, 0, 1)])
    Path(rec.files[1].path).unlink()
    moved = tmp_path / "moved"
    out.rename(moved)
    parsed = Parsed(render_gallery([rec], moved))
    assert parsed.titles() == ["Clip kept"]
    assert [v["src"] for v in parsed.all("video")] == ["./0-0.mp4"]
    assert "1 recorded file not found in this folder" in "".join(parsed.text)


def test_the_page_loads_nothing_from_the_network(tmp_path: Path) -> None:
    """No stylesheet, script, font, image or frame from elsewhere: no `<link>`, no `src` but
    relative media, no `url(` or `@import` in the style; http(s) only in links to the sources,
    and a Content-Security-Policy of `default-src 'none'` allowing just the inline code (by
    its hash) and the media files."""
    records = [record("https://example.test/a?b=1", 0, tmp_path, [("Clip", 5, 0, 1)])]
    page = write_gallery(records, tmp_path).read_text()
    parsed = Parsed(page)
    names = {name for name, _ in parsed.tags}
    assert names.isdisjoint({"link", "iframe", "img", "object", "embed", "base", "form", "source"})
    for name, attrs in parsed.tags:
        for key, value in attrs.items():
            if key in ("src", "href", "poster", "srcset", "action", "data"):
                ok_link = name == "a" and key == "href" and value == "https://example.test/a?b=1"
                assert ok_link or (value.startswith("./") and "//" not in value), (name, key, value)
            assert not key.startswith("on"), (name, key)
    code = "".join(parsed.inline["style"] + parsed.inline["script"])
    assert "url(" not in code and "@import" not in code and "http" not in code
    [script] = parsed.inline["script"]
    [style] = parsed.inline["style"]
    [policy] = [m["content"] for m in parsed.all("meta") if m.get("http-equiv")]
    assert "default-src 'none'" in policy
    for text, directive in ((script, "script-src"), (style, "style-src")):
        digest = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        assert f"{directive} 'sha256-{digest}';" in policy


def test_local_sources_show_the_file_name_and_no_link(tmp_path: Path) -> None:
    """A local source is named by its file name (no link); the filter lists each video with
    clips, labelled without the URL scheme."""
    records = [
        record("/videos/My talk <1>.mp4", 0, tmp_path, [("Clip local", 5, 0, 1)]),
        record("https://www.example.test/watch?v=2", 1, tmp_path, [("Clip web", 4, 0, 1)]),
        Record("https://example.test/none", 2, Phase.FAILED),
    ]
    page = render_gallery(records, tmp_path)
    parsed = Parsed(page)
    assert "My talk <1>.mp4" in parsed.text
    assert [a["href"] for a in parsed.all("a") if a.get("class") == "source"] == [
        "https://www.example.test/watch?v=2"
    ]
    options = [o["value"] for o in parsed.all("option")]
    assert options == ["", "v0", "v1"]
    assert "example.test/watch?v=2 (1)" in parsed.text


def test_write_is_atomic_and_never_follows_a_planted_link(tmp_path: Path) -> None:
    """The page replaces itself by rename (no temp file left), the same records give the same
    bytes, and a symlink planted at index.html is replaced, its target untouched."""
    target = tmp_path / "victim.txt"
    target.write_text("keep")
    out = tmp_path / "out"
    out.mkdir()
    (out / "index.html").symlink_to(target)
    records = [record("https://example.test/a", 0, out, [("Clip", 5, 0, 1)])]
    path = write_gallery(records, out)
    assert path == out / "index.html" and not path.is_symlink()
    assert target.read_text() == "keep"
    first = path.read_bytes()
    assert write_gallery(records, out).read_bytes() == first
    assert sorted(os.listdir(out)) == ["0-0.mp4", "index.html"]


def test_no_clips_yet(tmp_path: Path) -> None:
    """No records (or no files): a page that says so, in a folder created if needed."""
    path = write_gallery([], tmp_path / "new")
    page = path.read_text()
    assert "No clips yet." in page and "<video" not in page
    assert "0 videos: 0 done · 0 failed · 0 skipped · 0 clips · 0 B · 0 credits spent" in page


@pytest.mark.parametrize(
    ("size", "shown"), [(812, "812 B"), (262144, "256 KiB"), (3565158, "3.4 MiB")]
)
def test_sizes_are_for_people(tmp_path: Path, size: int, shown: str) -> None:
    """File sizes in the cards read like `256 KiB`."""
    rec = Record(
        "https://e.test/a", 0, Phase.DONE, clips=[], files=[clip_file(tmp_path, "a.mp4", size)]
    )
    assert f'<p class="line">{shown} · ' in render_gallery([rec], tmp_path)
