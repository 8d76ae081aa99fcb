"""The simulator's latency model: its distribution, its seed, off by default, and its hooks.

No assertion here measures time: delays are checked on the draws and on what the simulator
says it delayed, never against a clock.
"""

from __future__ import annotations

import math
import random
import statistics

import pytest
from click.testing import CliRunner

from cutpro_async.cli.simulate import simulate
from cutpro_async.testing import FakeCutPro, LatencyModel, SimConfig, Spread
from cutpro_async.testing._delays import Latencies
from cutpro_async.testing._latency import REALISTIC, STORAGE_GET
from tests.testing.helpers import simulator, video_url

pytestmark = pytest.mark.anyio


def test_draws_spread_lognormally_around_the_median() -> None:
    """10,000 draws: median within 3%, the log's deviation within 5% of sigma, all inside the
    cut, and the log symmetric around the median."""
    spread = Spread(0.12, 0.3)
    rng = random.Random(7)
    draws = [spread.draw(rng) for _ in range(10_000)]
    assert statistics.median(draws) == pytest.approx(0.12, rel=0.03)
    logs = [math.log(d / 0.12) for d in draws]
    assert statistics.pstdev(logs) == pytest.approx(0.3, rel=0.05)
    assert abs(statistics.fmean(logs)) < 0.01
    assert spread.lowest <= min(draws) and max(draws) <= spread.highest
    assert spread.lowest == pytest.approx(0.12 * math.exp(-0.9))


def test_a_spread_without_jitter_is_its_median() -> None:
    """sigma 0: every draw is the median."""
    rng = random.Random(1)
    assert {Spread(0.05, 0).draw(rng) for _ in range(10)} == {0.05}


def test_the_realistic_preset_lies_between_50_and_300_ms() -> None:
    """Every route's median in [50, 300] ms, with jitter; unknown routes take the default."""
    model = LatencyModel.realistic()
    medians = [model.of(route).median for route in REALISTIC]
    assert min(medians) >= 0.05 and max(medians) <= 0.30
    assert all(model.of(route).sigma > 0 for route in REALISTIC)
    assert model.of("GET /posts").median == model.default.median
    assert 0.05 <= model.default.median <= 0.30


def test_specs_parse() -> None:
    """off/empty/0 is None; realistic; realistic*2 doubles every median; seconds; junk fails."""
    for off in ("", "off", "none", "0", " OFF "):
        assert LatencyModel.parse(off) is None
    realistic = LatencyModel.parse("realistic")
    doubled = LatencyModel.parse("realistic*2")
    assert realistic is not None and doubled is not None
    assert doubled.of("POST /clips").median == pytest.approx(2 * realistic.of("POST /clips").median)
    assert doubled.of("POST /clips").sigma == realistic.of("POST /clips").sigma
    uniform = LatencyModel.parse("0.1")
    assert uniform is not None and uniform.of("GET /balance").median == 0.1
    for bad in ("slow", "realistic*x", "realistic*-1", "-0.1"):
        with pytest.raises(ValueError, match="latency"):
            LatencyModel.parse(bad)


def test_draws_are_deterministic_per_seed_and_route() -> None:
    """The same seed gives the same delays per route, however the routes interleave; another
    seed gives others."""
    model = LatencyModel.realistic()
    one, two, other = Latencies(model, 5), Latencies(model, 5), Latencies(model, 6)
    first = [one.draw("GET /balance") for _ in range(20)]
    second = []
    for _ in range(20):
        two.draw("POST /clips")  # another route in between changes nothing
        second.append(two.draw("GET /balance"))
    assert first == second
    assert first != [other.draw("GET /balance") for _ in range(20)]
    assert one.delayed["GET /balance"] == 20
    assert one.seconds["GET /balance"] == pytest.approx(sum(first))


def test_latency_is_off_by_default() -> None:
    """SimConfig and FakeCutPro answer instantly unless told otherwise."""
    assert SimConfig().latency is None
    assert FakeCutPro().latencies is None
    assert SimConfig(latency="realistic").latency == LatencyModel.realistic()
    assert SimConfig(latency=0.2).latency == LatencyModel.uniform(0.2)
    assert FakeCutPro(latency="off").latencies is None


async def test_an_instant_simulator_delays_nothing() -> None:
    """Without a model, requests go through and nothing is counted as delayed."""
    async with simulator() as (fake, api):
        assert (await api.get("/balance")).status == 200
    assert fake.latencies is None


async def test_every_api_and_storage_request_is_delayed_by_its_route() -> None:
    """A whole flow under a tiny model: each API route and the storage download are delayed
    once per request, under the same keys as the request counters; /_sim pages are not."""
    model = LatencyModel.uniform(0.001, 0.1)
    async with simulator(latency=model, time_scale=1e6) as (fake, api):
        info = await api.post("/clips/info", json={"url": video_url()})
        video = info.json["video_id"]
        sub = (await api.post("/clips", json={"video_id": video})).json["submission_id"]
        base = f"/clips/{video}/submissions/{sub}"
        assert (await api.get(base)).json["status"] == "completed"
        clip = (await api.get(f"{base}/clips?limit=1")).json["clips"][0]["id"]
        render = (await api.post(f"{base}/clips/{clip}/render")).json["render_id"]
        assert (await api.get(f"/renders/{render}")).json["status"] == "completed"
        link = (await api.get(f"/renders/{render}/download")).json["url"]
        async with api.session.get(link) as resp:
            assert resp.status == 200
            await resp.read()
        origin = fake.base_url.rsplit("/api/", 1)[0]
        async with api.session.get(f"{origin}/_sim/requests") as resp:
            assert resp.status == 200
    assert fake.latencies is not None
    delayed = fake.latencies.delayed
    expected = {
        "POST /clips/info": 1,
        "POST /clips": 1,
        "GET /clips/{videoId}/submissions/{submissionId}": 1,
        "GET /clips/{videoId}/submissions/{submissionId}/clips": 1,
        "POST /clips/{videoId}/submissions/{submissionId}/clips/{clipId}/render": 1,
        "GET /renders/{renderId}": 1,
        "GET /renders/{renderId}/download": 1,
        STORAGE_GET: 1,
    }
    assert dict(delayed) == expected
    assert {key: fake.requests[key] for key in expected} == expected
    assert all(fake.latencies.seconds[key] > 0 for key in expected)


def test_simulate_refuses_a_bad_latency() -> None:
    """`cutpro simulate --latency slow` exits 2 naming the option, before listening."""
    result = CliRunner().invoke(simulate, ["--latency", "slow", "--port", "0"])
    assert result.exit_code == 2
    assert "--latency" in result.output
