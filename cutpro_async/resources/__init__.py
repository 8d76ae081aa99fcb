"""One resource class per API group; `CutPro` holds one instance of each."""

from .account import BalanceResource, WorkspaceResource
from .clips import ClipsResource, TemplatesResource
from .posts import ConnectionsResource, PostsResource
from .renders import BulkDownloadsResource, RendersResource
from .submissions import SubmissionsResource
from .videos import VideosResource

__all__ = [
    "BalanceResource",
    "BulkDownloadsResource",
    "ClipsResource",
    "ConnectionsResource",
    "PostsResource",
    "RendersResource",
    "SubmissionsResource",
    "TemplatesResource",
    "VideosResource",
    "WorkspaceResource",
]
