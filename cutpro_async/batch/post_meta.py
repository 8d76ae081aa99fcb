"""What a post says on each platform: per-platform metadata from templates, checked before
anything is paid, like the naming template.

A template set maps a platform to its fields, e.g. (as TOML, `cutpro run --post-meta`):

    [youtube]
    title = "{title}"
    description = "{description}\\n\\n{hashtags}"
    privacyStatus = "unlisted"

    [tiktok]
    title = "{title} {hashtags}"
    privacyLevel = "PUBLIC_TO_EVERYONE"

String values are templates over the clip's `FIELDS`; other values (numbers, booleans, lists
of strings) are sent as they are. A platform the set does not name gets `DEFAULT_META`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ._templates import check_template

#: The platforms a post's `metadata` may name (the API reference's list).
PLATFORMS = (
    "tiktok",
    "youtube",
    "instagram",
    "threads",
    "bluesky",
    "linkedin",
    "pinterest",
    "facebook",
)
#: What a template may use.
FIELDS = (
    "title",
    "description",
    "keywords",
    "hashtags",
    "rating",
    "rank",
    "source",
    "video_id",
    "clip_id",
)
#: A platform's metadata when the set does not name it: the clip's title (and description
#: where the platform takes one); privacy is left to the account's default.
DEFAULT_META: Mapping[str, Mapping[str, Any]] = {
    "youtube": {"title": "{title}", "description": "{description}"},
    "facebook": {"title": "{title}", "description": "{description}"},
    "linkedin": {"title": "{title}", "description": "{description}"},
    "pinterest": {"title": "{title}", "description": "{description}"},
}
_TITLE_ONLY: Mapping[str, Any] = {"title": "{title}"}

PostMeta = Mapping[str, Mapping[str, Any]]


def load_post_meta(path: Path) -> PostMeta:
    """Read and check a TOML template set (one table per platform)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from None
    check_post_meta(data)
    return data


def check_post_meta(meta: object) -> None:
    """Refuse unknown platforms, unknown fields, bad syntax and values that cannot be sent."""
    if not isinstance(meta, Mapping):
        raise UsageError("post metadata should map platforms to their fields, e.g. {'youtube': …}")
    for platform, fields in meta.items():
        if platform not in PLATFORMS:
            raise UsageError(
                f"post metadata names an unknown platform {platform!r}; platforms are "
                + ", ".join(PLATFORMS)
            )
        if not isinstance(fields, Mapping):
            raise UsageError(f"post metadata for {platform} should be a table of fields")
        for name, value in fields.items():
            _check_value(f"{platform}.{name}", value)


def _check_value(where: str, value: object) -> None:
    """One metadata value: a template, a number, a boolean or a list of strings."""
    if isinstance(value, str):
        _check_template(where, value)
    elif isinstance(value, list):
        for item in value:
            if not isinstance(item, str):
                raise UsageError(f"post metadata {where}: a list may hold only strings")
            _check_template(where, item)
    elif not isinstance(value, bool | int | float):
        raise UsageError(
            f"post metadata {where}: {type(value).__name__} values cannot be sent; use a "
            "string, a number, a boolean or a list of strings"
        )


def _check_template(where: str, template: str) -> None:
    """A template that formats with the clip's fields, and only with them."""
    samples = {**dict.fromkeys(FIELDS, "x"), "rank": 1}
    check_template(template, samples, f"post metadata template {where} =")


def render_meta(meta: PostMeta, platform: str, fields: Mapping[str, object]) -> dict[str, Any]:
    """The `metadata` of one target: `{platform: {field: value}}`, templates filled in."""
    table = meta.get(platform) or DEFAULT_META.get(platform) or _TITLE_ONLY
    values = {name: "" if fields.get(name) is None else fields[name] for name in FIELDS}
    return {platform: {name: _fill(value, values) for name, value in table.items()}}


def _fill(value: Any, values: Mapping[str, object]) -> Any:
    """A value with its templates filled in."""
    if isinstance(value, str):
        return value.format(**values).strip()
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def clip_fields(
    *,
    title: str,
    description: str,
    keywords: list[str],
    rating: float,
    rank: int,
    source: str,
    video_id: str | None,
    clip_id: str,
) -> dict[str, object]:
    """The template fields of one clip."""
    tags = ["#" + "".join(k.split()) for k in keywords if k.strip()]
    return {
        "title": title,
        "description": description,
        "keywords": ", ".join(keywords),
        "hashtags": " ".join(tags),
        "rating": f"{rating:g}",
        "rank": rank,
        "source": source,
        "video_id": video_id,
        "clip_id": clip_id,
    }
