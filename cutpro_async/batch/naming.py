"""File names of a batch's clips: one template, checked before anything is paid, and one
name per clip, unique within the output folder whatever the template says.

The default is the library's: the name the server gives the file (`renders.download` with no
name). A template that does not name every clip apart (`same.mp4`, `{rank}.mp4`, titles that
repeat) never makes clips overwrite or skip each other: a name already taken by another clip
gets `-<clip id>` before its extension. A clip's name is recorded before its download starts,
so a rerun resumes the same file.
"""

from __future__ import annotations

from ..errors import UsageError
from ..jobs._files import sanitize_filename
from ._templates import check_template, used_fields

#: The default template: the server's file name, as the library names a download.
DEFAULT_NAMING = "{filename}"
#: What a template may use.
FIELDS = ("video_id", "clip_id", "render_id", "rank", "title", "filename", "stem", "ext")
#: Fields that alone tell every clip apart.
_UNIQUE = frozenset({"clip_id", "render_id"})


def check_naming(template: str) -> None:
    """Refuse a template with unknown fields or bad syntax, saying which fields exist."""
    if not isinstance(template, str) or not template.strip():
        raise UsageError(f"a naming template is needed, e.g. {DEFAULT_NAMING!r}")
    check_template(template, {**dict.fromkeys(FIELDS, "x"), "rank": 1}, "naming template")
    if "/" in template or "\\" in template:
        raise UsageError(f"a naming template names a file, not a folder: {template!r}")


def names_every_clip(template: str) -> bool:
    """Whether a template alone gives every clip its own name."""
    return bool(used_fields(template) & _UNIQUE)


def render_name(template: str, *, filename: str, **fields: object) -> str:
    """The name a template gives one clip (sanitised, without braces; `filename` is the
    server's)."""
    server = sanitize_filename(filename)
    stem, dot, ext = server.rpartition(".")
    values = {
        **{k: "" if v is None else v for k, v in fields.items()},
        "filename": server,
        "stem": stem if dot else server,
        "ext": ext if dot else "",
    }
    name = template.format(**values).replace("{", "(").replace("}", ")")
    return sanitize_filename(name)


class Names:
    """The names claimed in one output folder: one per clip, never one for two clips."""

    def __init__(self) -> None:
        self._owner: dict[str, str] = {}  # lower-cased name -> clip id (case-blind file systems)

    def claim(self, clip_id: str, name: str) -> str:
        """`name` for this clip, or `name` with `-<clip id>` if another clip has it."""
        owner = self._owner.setdefault(name.lower(), clip_id)
        if owner == clip_id:
            return name
        stem, dot, ext = name.rpartition(".")
        base, suffix = (stem, f".{ext}") if dot and stem else (name, "")
        unique = sanitize_filename(f"{base}-{clip_id}{suffix}")
        self._owner.setdefault(unique.lower(), clip_id)
        return unique

    def keep(self, clip_id: str, name: str) -> None:
        """Note a name a clip already has (from the record)."""
        self._owner.setdefault(name.lower(), clip_id)
