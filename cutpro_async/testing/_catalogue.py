"""What a simulated workspace starts with: its description, connected accounts, templates."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ._wire import iso, wire

# (platform, status): an expired account makes its post items fail, as on the real API.
DEFAULT_CONNECTIONS = (("tiktok", "active"), ("youtube", "active"), ("instagram", "expired"))


def workspace_info(
    ws_id: str, name: str, personal: bool, credits: float, created: datetime
) -> dict[str, Any]:
    """The `GET /workspace` object of a new workspace on the Pro plan."""
    return wire(
        "Workspace",
        id=ws_id,
        name=name,
        is_personal=personal,
        status="active",
        role="admin",
        plan_id="plan_pro",
        plan_name="Pro",
        plan_is_free=False,
        credits=credits,
        seat_count=0,
        max_total_seats=3,
        member_count=1,
        created_at=iso(created),
    )


def connection(conn_id: str, platform: str, status: str, created: datetime) -> dict[str, Any]:
    """A connected social account."""
    return wire(
        "Connection",
        id=conn_id,
        platform=platform,
        name=f"My {platform}",
        username=f"sim_{platform}",
        status=status,
        created_at=iso(created),
        avatar_url=None,
    )


def _template(
    template_id: str,
    name: str,
    description: str,
    category: str,
    aspect_ratio: str,
    *,
    captions: bool = False,
    public: bool = False,
) -> dict[str, Any]:
    """One editing template."""
    return wire(
        "Template",
        id=template_id,
        name=name,
        description=description,
        category=category,
        aspect_ratio=aspect_ratio,
        auto_add_captions=captions,
        is_public=public,
        thumbnail_url=None,
    )


def default_templates() -> list[dict[str, Any]]:
    """The templates every simulated workspace sees: two of its own, two public."""
    return [
        _template(
            "80009919218057216",
            "Bold captions",
            "Big yellow captions",
            "captions",
            "9:16",
            captions=True,
        ),
        _template("80009919218057217", "Clean square", "No captions, 1:1", "minimal", "1:1"),
        _template(
            "80009919218057301",
            "Podcast split",
            "Speaker split screen",
            "podcast",
            "9:16",
            captions=True,
            public=True,
        ),
        _template(
            "80009919218057302", "Gaming facecam", "Facecam on top", "gaming", "9:16", public=True
        ),
    ]
