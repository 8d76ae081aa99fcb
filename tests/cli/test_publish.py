"""`cutpro run --publish` and `cutpro posts`, in a subprocess against a simulator here."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from cutpro_async.testing import FakeCutPro

from .conftest import cutpro, env_for, error_lines, manifest, write_list

pytestmark = pytest.mark.anyio

ACCOUNTS = "tiktok:sim_tiktok,youtube:My youtube"


def urls(count: int, tag: str) -> list[str]:
    """Distinct video URLs."""
    return [f"https://www.youtube.com/watch?v={tag}{i}&duration=600" for i in range(count)]


async def test_run_publishes_each_best_clip_to_each_account_and_lists_them(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """Two videos, their best clip to two accounts: four posts, each in the manifest with its
    URL; `cutpro posts` lists them; a rerun posts nothing again."""
    out = tmp_path / "out"
    listing = write_list(tmp_path, urls(2, "pub"))
    env = env_for(fake)
    args = ("run", f"@{listing}", "--out", out, "--top-k", "2", "--publish", ACCOUNTS)
    done = await cutpro(*args, env=env)
    assert done.returncode == 0, done.stderr.decode()
    assert "posts: 4 published" in done.stderr.decode()
    rows = manifest(out)
    posted = [p for row in rows for p in row.get("posts", [])]
    assert len(rows) == 4 and len(posted) == 4  # two files a video, only the best posted
    assert all(p["status"] == "completed" and p["published_url"] for p in posted)
    listed = await cutpro("posts", "--out", out, "--json", env=env)
    assert listed.returncode == 0, listed.stderr.decode()
    lines = [orjson.loads(line) for line in listed.stdout.splitlines()]
    assert sorted(line["account"] for line in lines) == sorted(
        ["tiktok:My tiktok", "youtube:My youtube"] * 2
    )
    sent = fake.requests["POST /posts"]
    again = await cutpro(*args, env=env)
    assert again.returncode == 0 and fake.requests["POST /posts"] == sent == 4


async def test_an_expired_account_is_refused_before_paying(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """The simulator's instagram account is expired: exit 2, one line, nothing paid."""
    out = tmp_path / "out"
    done = await cutpro(
        "run",
        urls(1, "exp")[0],
        "--out",
        out,
        "--publish",
        "instagram:sim_instagram",
        env=env_for(fake),
    )
    assert done.returncode == 2
    assert error_lines(done.stderr) == [
        "error: the instagram account 'My instagram' ("
        + next(c["id"] for c in fake.connections() if c["platform"] == "instagram")
        + ") is expired: reconnect it in cut.pro, or leave it out of --publish"
    ]
    assert fake.requests["POST /clips"] == 0


async def test_dry_run_prints_the_calendar_and_posts_nothing(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """`--dry-run --schedule START --spacing 2h`: one line per post, two hours apart per
    account, from START in its offset; no credits spent, nothing posted."""
    out = tmp_path / "out"
    start = "2030-01-15T09:00+01:00"
    done = await cutpro(
        "run",
        *urls(3, "dry"),
        "--out",
        out,
        "--dry-run",
        "--publish",
        ACCOUNTS,
        "--schedule",
        start,
        "--spacing",
        "2h",
        env=env_for(fake),
    )
    assert done.returncode == 0, done.stderr.decode()
    lines = done.stdout.decode().splitlines()
    assert lines[0] == "would post:"
    assert len(lines) == 7
    tiktok = [line for line in lines if "tiktok" in line]
    assert [line.rsplit(" ", 2)[-2:] for line in tiktok] == [
        ["2030-01-15", "09:00+01:00"],
        ["2030-01-15", "11:00+01:00"],
        ["2030-01-15", "13:00+01:00"],
    ]
    assert "from 2030-01-15 09:00+01:00, one per 2:00:00 per account" in done.stderr.decode()
    assert fake.requests["POST /posts"] == 0 and fake.credits_spent() == 0


async def test_scheduled_items_that_fail_are_retried_with_posts_retry_failed(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """Scheduled posts publish later; the tiktok account is revoked meanwhile, so its items
    fail: `cutpro posts` says so (exit 1); once reconnected, `--retry-failed` publishes them
    and leaves the youtube items alone."""
    out = tmp_path / "out"
    env = env_for(fake)
    soon = (fake.world.clock.wall() + timedelta(minutes=10)).isoformat(timespec="minutes")
    done = await cutpro(
        "run",
        *urls(2, "sch"),
        "--out",
        out,
        "--top-k",
        "1",
        "--publish",
        ACCOUNTS,
        "--schedule",
        soon,
        env=env,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert "posts: 0 published, 4 scheduled" in done.stderr.decode()
    tiktok = next(c["id"] for c in fake.connections() if c["platform"] == "tiktok")
    fake.set_connection_status(tiktok, "revoked")
    fake.advance(4 * 3600 * fake.world.config.time_scale)  # the server's clock 4 h on
    listed = await cutpro("posts", "--out", out, env=env)
    assert listed.returncode == 1
    text = listed.stdout.decode()
    assert text.count("failed") == 2 and text.count("CONNECTION_REVOKED") == 2
    assert text.count("completed") == 2
    fake.set_connection_status(tiktok, "active")
    retried = await cutpro("posts", "--out", out, "--retry-failed", env=env)
    assert retried.returncode == 0, retried.stdout.decode() + retried.stderr.decode()
    assert retried.stdout.decode().count("completed") == 4
    attempts = sorted((i.connection_id == tiktok, i.attempts) for i in fake.post_items())
    assert attempts == [(False, 1), (False, 1), (True, 2), (True, 2)]
    assert fake.requests["POST /posts"] == 4


async def test_bad_publish_options_are_refused_before_any_request(
    fake: FakeCutPro, tmp_path: Path
) -> None:
    """A bad spacing, schedule, metadata file or a companion without --publish: exit 2 with
    what to give, and no request sent."""
    source, out = urls(1, "bad")[0], tmp_path / "out"
    meta = tmp_path / "meta.toml"
    meta.write_text("[myspace]\ntitle = '{title}'\n")
    cases = {
        ("--publish", ACCOUNTS, "--spacing", "soon"): "--spacing takes a duration",
        ("--publish", ACCOUNTS, "--schedule", "tomorrow"): "--schedule takes an ISO 8601",
        ("--publish", ACCOUNTS, "--post-meta", meta): "unknown platform 'myspace'",
        (
            "--schedule",
            "2030-01-01T09:00",
        ): "--schedule: only with --publish",
        ("--publish", ACCOUNTS, "--publish-top-k", "4"): "more than the clips kept",
    }
    for args, message in cases.items():
        done = await cutpro("run", source, "--out", out, *args, env=env_for(fake))
        assert done.returncode == 2, (args, done.stderr.decode())
        assert message in done.stderr.decode(), (args, done.stderr.decode())
    assert sum(fake.requests.values()) == 0
