"""A page to watch a run's clips: `OUT/index.html`, self-contained, written from the record.

One `<video>` per clip file found in OUT, best-rated first, with its title, rating, time range
in the source and a link to the source; a `<select>` (shown by a small inline script) keeps one
video's clips. Without JavaScript every clip is shown. The page loads nothing from the network:
no fonts, stylesheets or scripts from elsewhere, and a Content-Security-Policy that allows only
its own inline style and script (by hash) and media files next to it. Every text from the
record (titles come from the API) is escaped; file names are URL-encoded.
"""

from __future__ import annotations

import base64
import hashlib
import html
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

import attrs

from .._fs import open_nofollow
from .credits import Credits
from .record import Phase, PostEntry, Record, SavedFile
from .sources import is_url

GALLERY_NAME = "index.html"

_STYLE = """
:root { color-scheme: light dark; --fg: #1d1d1f; --bg: #f5f5f7; --card: #fff; --dim: #6e6e73;
  --accent: #0a66c2; }
@media (prefers-color-scheme: dark) { :root { --fg: #f5f5f7; --bg: #111; --card: #1d1d1f;
  --dim: #a1a1a6; --accent: #6cb4ff; } }
* { box-sizing: border-box; }
[hidden] { display: none !important; }
body { margin: 0; padding: 1.5rem; font: 15px/1.45 system-ui, sans-serif; color: var(--fg);
  background: var(--bg); }
header { max-width: 80rem; margin: 0 auto 1.25rem; }
h1 { font-size: 1.5rem; margin: 0 0 .25rem; }
.totals { color: var(--dim); margin: 0 0 .75rem; }
.filter select { font: inherit; padding: .2rem .4rem; max-width: 100%; }
main { max-width: 80rem; margin: 0 auto; display: grid; gap: 1rem;
  grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); }
.clip { background: var(--card); border-radius: .6rem; overflow: hidden;
  box-shadow: 0 1px 3px rgb(0 0 0 / .15); display: flex; flex-direction: column; }
.clip video { display: block; width: 100%; aspect-ratio: 16 / 9; background: #000; }
.clip div { padding: .6rem .8rem .8rem; }
.clip h2 { font-size: 1rem; margin: 0 0 .3rem; overflow-wrap: anywhere; }
.clip p { margin: .15rem 0; color: var(--dim); font-size: .875rem; }
.clip p.line { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.rating { font-weight: 600; color: var(--fg); }
a { color: var(--accent); }
.empty { color: var(--dim); }
"""

_SCRIPT = """
(function () {
  var pick = document.getElementById("video");
  var shown = document.getElementById("shown");
  var clips = document.querySelectorAll("article.clip");
  function filter() {
    var want = pick.value, count = 0;
    for (var i = 0; i < clips.length; i++) {
      var on = !want || clips[i].getAttribute("data-video") === want;
      clips[i].hidden = !on;
      if (on) { count++; } else { clips[i].querySelector("video").pause(); }
    }
    shown.textContent = count + (count === 1 ? " clip" : " clips") + " shown";
  }
  pick.addEventListener("change", filter);
  document.getElementById("filter").hidden = false;
  filter();
})();
"""


def _csp_hash(text: str) -> str:
    """The CSP source matching an inline element with this exact text."""
    digest = hashlib.sha256(text.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


# Nothing but the page's own style, script and the media files next to it: an escaping bug
# still could not run a script or fetch anything.
_POLICY = (
    "default-src 'none'; "
    f"style-src {_csp_hash(_STYLE)}; script-src {_csp_hash(_SCRIPT)}; "
    "media-src 'self' file:; img-src 'none'; base-uri 'none'; form-action 'none'"
)


@attrs.frozen
class _Clip:
    """One player on the page."""

    video: int  # the index of its video in the page's list
    href: str  # URL-encoded, relative to OUT
    name: str
    size: int
    title: str
    rating: float | None
    start: float | None
    end: float | None
    posts: tuple[PostEntry, ...] = ()


def write_gallery(records: Sequence[Record], out: str | Path, *, name: str = GALLERY_NAME) -> Path:
    """Write OUT/index.html atomically (temp file, then rename) from the records; its path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    page = render_gallery(records, folder)
    tmp = folder / f".{name}.{os.getpid()}.tmp"
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(page)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def render_gallery(records: Sequence[Record], out: Path) -> str:
    """The page's HTML: clips whose files exist in `out`, best-rated first."""
    clips: list[_Clip] = []
    missing = 0
    for index, record in enumerate(records):
        chosen = {clip.id: clip for clip in record.clips or []}
        for saved in record.files:
            href = _locate(saved, out)
            if href is None:
                missing += 1
                continue
            clip = chosen.get(saved.clip_id)
            clips.append(
                _Clip(
                    video=index,
                    href=href,
                    name=Path(saved.path).name,
                    size=saved.bytes,
                    title=clip.title if clip else Path(saved.path).stem,
                    rating=clip.rating if clip else None,
                    start=clip.start_time if clip else None,
                    end=clip.end_time if clip else None,
                    posts=tuple(p for p in record.posts.values() if p.clip_id == saved.clip_id),
                )
            )
    clips.sort(key=_rank)
    return _page(records, out, clips, missing)


def _rank(clip: _Clip) -> tuple[bool, float, int, float, str]:
    """Best rating first (unrated last); ties in source order, then by time in the source."""
    rating = clip.rating if clip.rating is not None else 0.0
    return (clip.rating is None, -rating, clip.video, clip.start or 0.0, clip.name)


def _locate(saved: SavedFile, out: Path) -> str | None:
    """The file's link relative to OUT (URL-encoded), or None when it is not there."""
    recorded = Path(saved.path)
    candidates = [out / recorded.name]  # runs save into OUT itself; OUT may have moved since
    if recorded.is_absolute():
        candidates.append(recorded)
    base = os.path.abspath(out)
    for candidate in candidates:
        if not candidate.is_file() or candidate.is_symlink():
            continue
        relative = os.path.relpath(os.path.abspath(candidate), base)
        if relative == os.pardir or relative.startswith(os.pardir + os.sep):
            continue
        return "./" + quote(Path(relative).as_posix(), safe="/")
    return None


def _page(records: Sequence[Record], out: Path, clips: list[_Clip], missing: int) -> str:
    """The whole document."""
    esc = html.escape
    phases = Counter(record.phase for record in records)
    unfinished = sum(not record.phase.is_final for record in records)
    spent = Credits.of(records).spent
    totals = [
        f"{len(records)} {_plural(len(records), 'video')}: {phases[Phase.DONE]} done",
        f"{phases[Phase.FAILED]} failed",
        f"{phases[Phase.SKIPPED]} skipped",
    ]
    if unfinished:
        totals.append(f"{unfinished} unfinished")
    totals += [
        f"{len(clips)} {_plural(len(clips), 'clip')}",
        _size(sum(clip.size for clip in clips)),
        f"{spent:g} {_plural(spent, 'credit')} spent",
    ]
    if missing:
        totals.append(f"{missing} recorded {_plural(missing, 'file')} not found in this folder")
    per_video = Counter(clip.video for clip in clips)
    options = [f'<option value="">All videos ({len(clips)})</option>']
    options += [
        f'<option value="v{index}">{esc(_label(record.source))} ({per_video[index]})</option>'
        for index, record in enumerate(records)
        if per_video[index]
    ]
    heading = f"Clips of {out.resolve().name or out}"
    body = "\n".join(_card(clip, records[clip.video].source) for clip in clips)
    if not clips:
        body = '<p class="empty">No clips yet.</p>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{esc(_POLICY)}">
<meta name="referrer" content="no-referrer">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="cutpro">
<title>{esc(heading)}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>{esc(heading)}</h1>
<p class="totals">{esc(" · ".join(totals))}</p>
<p class="filter" id="filter" hidden><label for="video">Video</label>
<select id="video">
{chr(10).join(options)}
</select> <span id="shown"></span></p>
</header>
<main>
{body}
</main>
<script>{_SCRIPT}</script>
</body>
</html>
"""


def _card(clip: _Clip, source: str) -> str:
    """One clip: its player, title, rating, time range, source and file."""
    esc = html.escape
    facts = []
    if clip.rating is not None:
        facts.append(f'<span class="rating" title="AI rating">★ {clip.rating:g}/10</span>')
    if clip.start is not None and clip.end is not None:
        facts.append(
            f'<span class="range" title="time range in the source">'
            f"{_clock(clip.start)}&ndash;{_clock(clip.end)}</span>"
        )
    if is_url(source):  # http(s) only: never a javascript: or file: link
        link = (
            f'<a class="source" href="{esc(source)}" title="{esc(source)}" '
            'rel="noopener noreferrer">'
            f"{esc(_label(source))}</a>"
        )
    else:
        link = f'<span class="source" title="{esc(source)}">{esc(Path(source).name)}</span>'
    return (
        f'<article class="clip" data-video="v{clip.video}">\n'
        f'<video controls preload="metadata" src="{esc(clip.href)}"></video>\n'
        f"<div><h2>{esc(clip.title)}</h2>\n"
        f"<p>{' · '.join(facts)}</p>\n"
        f'<p class="line">from {link}</p>\n'
        f'<p class="line">{_size(clip.size)} · <a class="file" href="{esc(clip.href)}" '
        f'title="{esc(clip.name)}">{esc(clip.name)}</a></p>'
        + "".join(f'\n<p class="line post">{_post(post)}</p>' for post in clip.posts)
        + "</div>\n</article>"
    )


def _post(post: PostEntry) -> str:
    """A clip's post to one account: a link once published, else where it stands."""
    esc = html.escape
    account = esc(post.account or post.connection_id)
    url = post.published_url
    if post.status == "completed" and url and is_url(url):  # http(s) only
        return f'posted to <a href="{esc(url)}" rel="noopener noreferrer">{account}</a>'
    if post.status == "failed":
        return f'post to {account} failed: <span title="{esc(post.error or "")}">' + (
            f"{esc((post.error or 'unknown').partition(':')[0])}</span>"
        )
    if post.scheduled_at is not None:
        when = post.scheduled_at.isoformat(sep=" ", timespec="minutes")
        return f"post to {account} scheduled for {esc(when)}"
    return f"post to {account}: {esc(post.status or 'not sent')}"


def _label(source: str, limit: int = 60) -> str:
    """A short name for a source: a URL without its scheme, a local file's name."""
    url = is_url(source)
    text = source.split("://", 1)[1].removeprefix("www.") if url else Path(source).name
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clock(seconds: float) -> str:
    """`m:ss`, or `h:mm:ss` from an hour on."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def _size(count: int) -> str:
    """Bytes for people: `812 B`, `256 KiB`, `3.4 MiB`, `1.2 GiB`."""
    value, unit = float(count), "B"
    for bigger in ("KiB", "MiB", "GiB", "TiB"):
        if value < 1024:
            break
        value, unit = value / 1024, bigger
    return f"{value:.0f} {unit}" if unit == "B" or value >= 100 else f"{value:.1f} {unit}"


def _plural(count: float, word: str) -> str:
    """`word` or `words`."""
    return word if count == 1 else word + "s"
