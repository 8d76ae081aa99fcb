"""Deterministic made-up content: video metadata from a URL, clips from a submission."""

from __future__ import annotations

import hashlib
import random
from urllib.parse import parse_qs, urlsplit

import attrs

PLATFORMS = {
    "youtube.com": "youtube",
    "youtu.be": "youtube",
    "twitch.tv": "twitch",
    "kick.com": "kick",
    "tiktok.com": "tiktok",
    "vimeo.com": "vimeo",
}
_WORDS = [
    "growth",
    "startup",
    "money",
    "habits",
    "focus",
    "podcast",
    "debate",
    "science",
    "history",
    "music",
    "coding",
    "design",
    "health",
    "travel",
    "chess",
    "football",
    "interview",
    "story",
    "lesson",
    "mistake",
    "secret",
    "advice",
    "future",
]


def digest(*parts: str) -> str:
    """A stable hex digest of some strings (ids and seeds derive from it)."""
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def rng_for(*parts: str) -> random.Random:
    """A random generator seeded from some strings."""
    return random.Random(digest(*parts))


def platform_of(url: str) -> str | None:
    """The platform name of a public video URL, or None if it is not a usable URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.removeprefix("www.").removeprefix("m.")
    return PLATFORMS.get(host, "other")


@attrs.frozen
class SourceVideo:
    """What the simulated platform knows about a video URL."""

    title: str
    description: str
    author: str
    duration: float
    unavailable: bool


def describe(url: str) -> SourceVideo:
    """Metadata for a URL; `?duration=N` forces a length, `fail` in the URL makes it fail."""
    rng = rng_for("video", url)
    query = parse_qs(urlsplit(url).query)
    forced = query.get("duration", [None])[0]
    duration = float(forced) if forced and forced.replace(".", "", 1).isdigit() else None
    topic = " ".join(rng.sample(_WORDS, 3))
    return SourceVideo(
        title=f"The {topic} episode",
        description=f"A long conversation about {topic}.",
        author=f"channel_{rng.randrange(1000, 9999)}",
        duration=duration if duration is not None else float(rng.randrange(300, 3600)),
        unavailable="fail" in url.lower(),
    )


@attrs.frozen
class ClipSpec:
    """One generated clip before it gets ids and links."""

    title: str
    description: str
    rating: float
    keywords: tuple[str, ...]
    start_time: float
    end_time: float


def make_clips(seed: str, start: float, end: float) -> list[ClipSpec]:
    """Clips spread over [start, end): about one per three minutes, 3 to 20 of them."""
    rng = rng_for("clips", seed)
    span = end - start
    count = max(3, min(20, int(span // 180)))
    slot = span / count
    clips = []
    for index in range(count):
        length = min(slot, rng.uniform(15, 90))
        begin = start + index * slot + rng.uniform(0, slot - length)
        words = rng.sample(_WORDS, 3)
        clips.append(
            ClipSpec(
                # Some titles carry a slash or colon, as real ones do: file names must be sanitised.
                title=f"{words[0].title()}: {words[1]} {'50/50' if index % 4 == 1 else words[2]}",
                description=f"Why {words[1]} matters for {words[2]}.",
                rating=round(rng.uniform(0, 10), 1),
                keywords=tuple(words),
                start_time=round(begin, 2),
                end_time=round(begin + length, 2),
            )
        )
    return clips
