"""Jobs and transfers: waiters that poll remote jobs, streaming downloads and uploads.

The classes here extend the per-endpoint resources with behaviour made of several calls;
`CutPro` exposes them under the same attribute names.
"""

from .posts import Posts
from .renders import BulkDownloads, Renders
from .submissions import Submissions
from .transfers import Downloaded, Progress, Transfers
from .videos import Videos

__all__ = [
    "BulkDownloads",
    "Downloaded",
    "Posts",
    "Progress",
    "Renders",
    "Submissions",
    "Transfers",
    "Videos",
]
