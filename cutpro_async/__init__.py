"""cutpro_async: an asyncio-native client for the CutPro video-clipping API."""

from ._version import __version__

__all__ = ["__version__"]
