"""Generated clips and editing templates."""

from __future__ import annotations

from datetime import datetime

import attrs

from ._base import Pagination


class ClipSort:
    """Accepted values of the clips list `sort` parameter."""

    VALUES = ("rating", "duration", "title", "start_time")


@attrs.frozen
class Clip:
    """An AI-generated clip of a completed submission."""

    id: str
    title: str
    description: str
    rating: float
    keywords: list[str]
    start_time: float
    end_time: float
    language: str
    created_at: datetime
    thumbnail_url: str = attrs.field(repr=False)
    download_url: str | None = attrs.field(default=None, repr=False)  # signed, time-limited
    play_url: str | None = attrs.field(default=None, repr=False)
    has_template_applied: bool = False

    @property
    def duration(self) -> float:
        """Length of the clip in seconds."""
        return self.end_time - self.start_time


@attrs.frozen
class ClipPage:
    """A page of a submission's clips."""

    clips: list[Clip]
    pagination: Pagination

    @property
    def items(self) -> list[Clip]:
        """The page's clips."""
        return self.clips


@attrs.frozen
class ApplyTemplateRequest:
    """Body of `POST .../apply_template` (`clip_ids` left None is omitted: every clip)."""

    template_id: str
    clip_ids: list[str] | None = None


@attrs.frozen
class TemplateApplied:
    """How many clips a template was applied to."""

    total: int


@attrs.frozen
class Template:
    """An editing template (read-only through the API)."""

    id: str
    name: str
    description: str | None = None
    category: str | None = None
    aspect_ratio: str | None = None
    auto_add_captions: bool = False
    is_public: bool = False
    thumbnail_url: str | None = None


@attrs.frozen
class TemplatePage:
    """A page of templates."""

    templates: list[Template]
    pagination: Pagination | None = None

    @property
    def items(self) -> list[Template]:
        """The page's templates."""
        return self.templates
