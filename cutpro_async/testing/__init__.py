"""A faithful, stateful fake CutPro v1 server for tests, benchmarks and `cutpro run --simulate`.

    from cutpro_async.testing import FakeCutPro

    async with FakeCutPro(time_scale=6000) as fake:
        ...  # point a client at fake.base_url with fake.api_key; read fake.charges_per_video()

It is a real aiohttp server on 127.0.0.1 (the API on one port, signed storage links on
another), runs on asyncio, and follows the CutPro API reference, faults included. Its storage
answers downloads as S3, S3 with SSE-KMS, GCS, Azure or a plain web server does
(`storage_profile=`): their ETags and checksum headers differ, and a client must cope with each.
With `state_path=` its world is kept in a file, and a later simulator continues it. With
`latency="realistic"` every answer takes a seeded lognormal 50 to 300 ms per route (`_latency`).
"""

from ._config import SimConfig
from ._fake import FakeCutPro, SimPostItem
from ._faults import Fault, parse_faults
from ._latency import LatencyModel, Spread
from ._persist import StateFileError, StateFileLocked

__all__ = [
    "FakeCutPro",
    "Fault",
    "LatencyModel",
    "SimConfig",
    "SimPostItem",
    "Spread",
    "StateFileError",
    "StateFileLocked",
    "parse_faults",
]
