"""What `cutpro run` shows people: plain lines without a terminal, bars that keep their width,
the reasons for skips and failures grouped with counts, plurals, quiet and verbose."""

from __future__ import annotations

import re
import time
from io import StringIO
from pathlib import Path

import click
import orjson
import pytest
from rich.console import Console

from cutpro_async.batch import (
    CreditsSpent,
    Event,
    FileSaved,
    Phase,
    PostFinished,
    PostPlaced,
    Priced,
    SourcesRead,
    Stage,
    StageFinished,
    StageStarted,
    Summary,
    VideoDone,
    VideoFailed,
    VideoSkipped,
)
from cutpro_async.batch.credits import Credits
from cutpro_async.batch.sources import normalize
from cutpro_async.cli._words import clock, mib, number, plural
from cutpro_async.cli.progress import (
    Display,
    JsonLines,
    LiveProgress,
    PlainProgress,
    Verbosity,
    open_display,
)
from cutpro_async.errors import UsageError

ESC = "\x1b"
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def console(terminal: bool, width: int = 80) -> tuple[Console, StringIO]:
    """A console writing to a buffer, as a terminal or not."""
    buffer = StringIO()
    return Console(file=buffer, force_terminal=terminal, width=width), buffer


def over_budget(source: str, cost: float, budget: float = 0) -> VideoSkipped:
    """The skip the credit ledger causes for a video over the budget (its own wording)."""
    reason = Credits(budget).reserve(source, cost)
    assert reason is not None
    return VideoSkipped(source, reason)


def bad_source(source: str) -> VideoFailed:
    """The failure the pipeline records for a source that cannot be one (its own wording)."""
    with pytest.raises(UsageError) as raised:
        normalize(source)
    return VideoFailed(source, Phase.NEW, f"UsageError: {raised.value}")


def sources(n: int, prefix: str = "https://v.example/") -> list[str]:
    """`n` distinct sources."""
    return [f"{prefix}{i}" for i in range(n)]


def feed(display: Display, events: list[Event]) -> None:
    """Hand the events to the display in order."""
    for event in events:
        display(event)


def report(
    display: Display,
    summary: Summary,
    *,
    dry_run: bool = False,
    out: Path | str | None = None,
    failed_in_record: int = 0,
) -> list[str]:
    """The lines of the display's closing summary."""
    return display.summary_lines(
        summary, dry_run=dry_run, out=out, failed_in_record=failed_in_record
    )


def test_plurals_sizes_and_times() -> None:
    """One helper gives every count its fitting word; figures read as people write them."""
    assert plural(1, "video") == "1 video"
    assert plural(0, "video") == "0 videos"
    assert plural(2, "file") == "2 files"
    assert plural(1.0, "credit") == "1 credit"
    assert plural(2.5, "credit") == "2.5 credits"
    assert plural(1200.0, "credit") == "1200 credits"
    assert number(1 / 3) == "0.33"
    assert mib(12.3 * 1024**2) == "12.3 MiB"
    assert (clock(12.9), clock(3723)) == ("00:12", "1:02:03")


def test_without_a_terminal_a_plain_line_comes_every_interval() -> None:
    """Without a TTY: no live display and no escape codes, but a plain progress line every
    `interval` seconds of the injected clock, with the videos, what each stage holds now, the
    files, credits and failures."""
    out, buffer = console(terminal=False)
    now = FakeClock()
    with PlainProgress(out, interval=5, clock=now, ticking=False) as display:
        feed(display, [StageStarted(s, Stage.ANALYZE) for s in sources(3)])
        now.now += 4.9
        display.tick()
        assert buffer.getvalue() == ""
        display(StageFinished(sources(1)[0], Stage.ANALYZE))
        feed(display, [StageStarted("https://v.example/0", Stage.SUBMIT)])
        display(CreditsSpent("https://v.example/0", 10, 10))
        now.now += 0.1
        display.tick()
        now.now += 3
        display.tick()  # not due yet: 3 s since the last line
        display(VideoFailed("https://v.example/1", Phase.PRICED, "APIConnectionError: reset"))
        now.now += 2
        display(FileSaved("https://v.example/2", "c1", Path("/o/c1.mp4"), 3 * 1024**2, "x"))
    text = buffer.getvalue()
    assert ESC not in text
    lines = text.splitlines()
    assert lines == [
        "[00:05] 0 videos so far · analyze 2 · submit 1 · wait_clips 0 · render 0 · "
        "wait_render 0 · download 0 · 0 files (0.0 MiB) · 10 credits spent",
        "failed https://v.example/1 in phase priced: APIConnectionError: reset",
        "[00:10] 1 video so far · analyze 2 · submit 1 · wait_clips 0 · render 0 · "
        "wait_render 0 · download 0 · 1 file (3.0 MiB) · 10 credits spent · 1 failed",
    ]


def test_the_line_comes_even_while_no_events_arrive() -> None:
    """A long wait sends no events: the display's own thread still prints the line."""
    out, buffer = console(terminal=False)
    with open_display(out, interval=0.05) as display:
        assert isinstance(display, PlainProgress)
        display(StageStarted("https://v.example/0", Stage.WAIT_CLIPS))
        deadline = time.monotonic() + 10
        while "wait_clips 1" not in buffer.getvalue() and time.monotonic() < deadline:
            time.sleep(0.02)
    assert "] 0 videos so far · analyze 0 · submit 0 · wait_clips 1" in buffer.getvalue()
    assert ESC not in buffer.getvalue()


def test_open_display_picks_by_terminal_verbosity_and_json() -> None:
    """JSON for scripts; bars on a terminal; plain lines without one; lines only when quiet."""
    terminal, _ = console(terminal=True)
    plain, _ = console(terminal=False)
    assert isinstance(open_display(plain, as_json=True), JsonLines)
    assert type(open_display(terminal)) is LiveProgress
    assert type(open_display(plain)) is PlainProgress
    assert type(open_display(terminal, verbosity=Verbosity.QUIET)) is Display
    assert type(open_display(plain, verbosity=Verbosity.QUIET)) is Display


def test_verbosity_from_the_flags() -> None:
    """`-v` and `-q` map to the verbosity; both at once is a usage error."""
    assert Verbosity.of() == Verbosity.NORMAL
    assert Verbosity.of(verbose=1) == Verbosity.VERBOSE
    assert Verbosity.of(quiet=True) == Verbosity.QUIET
    with pytest.raises(click.UsageError):
        Verbosity.of(verbose=True, quiet=True)


def last_frame(text: str) -> list[str]:
    """The lines of the live display's last frame (after the last line erase), without the
    escape codes."""
    return ANSI.sub("", text.rsplit("\x1b[2K", 1)[-1]).splitlines()


def test_bars_keep_their_width_at_80_columns() -> None:
    """On an 80-column terminal the bars stay 30 columns wide, however long the totals line
    (which sits below them, not in their table), and each stage has its own bar."""
    out, buffer = console(terminal=True, width=80)
    events: list[Event] = [StageStarted(s, Stage.ANALYZE) for s in sources(12)]
    events += [StageFinished(s, Stage.ANALYZE) for s in sources(5)]
    events += [StageStarted(s, Stage.WAIT_CLIPS) for s in sources(4)]
    events += [over_budget(s, 10) for s in sources(3, "https://skipped.example/")]
    events += [CreditsSpent("https://v.example/0", 12345.5, 12345.5)]
    events += [StageStarted(sources(1)[0], Stage.PUBLISH)]  # its bar shows once used
    with open_display(out) as display:
        feed(display, events)
    frame = last_frame(buffer.getvalue())
    rows = {line.split()[0]: line for line in frame if line.strip()}
    for stage in Stage:
        bar = "".join(c for c in rows[stage.value] if c in "━╸╺")
        assert len(bar) == 30, rows[stage.value]
    assert rows["analyze"].split()[-1] == "5/12"
    assert rows["wait_clips"].split()[-1] == "0/4"
    assert rows["submit"].split()[-1] == "0/0"
    assert rows["publish"].split()[-1] == "0/1"
    assert frame[-1].startswith("0 files (0.0 MiB) · 12345.5 credits spent · 3 skipped")


def test_the_videos_bar_counts_of_the_total_once_every_source_is_read() -> None:
    """Before `SourcesRead`: "N videos so far"; after: "N of TOTAL videos", where a source
    listed twice counts once."""
    out, buffer = console(terminal=True, width=100)
    with open_display(out) as display:
        display(VideoDone("https://v.example/0", 1))
        display(VideoSkipped("https://v.example/0", "listed twice"))
        assert display.tally.videos() == "1 video so far"
        display(SourcesRead(20))
        display(VideoDone("https://v.example/1", 1))
        assert display.tally.videos() == "2 of 20 videos"
    videos = next(
        line for line in last_frame(buffer.getvalue()) if line.lstrip().startswith("videos")
    )
    assert videos.endswith("2 of 20 videos")


def test_skips_are_grouped_by_reason_with_counts_and_examples() -> None:
    """`--budget 0` over 20 videos: the summary says why, with the budget, what to do and a
    few of the sources; duplicates and videos done earlier say so too."""
    out, _ = console(terminal=False)
    display = open_display(out)
    urls = sources(20)
    feed(display, [over_budget(u, 10 + i) for i, u in enumerate(urls)])
    feed(display, [VideoSkipped(urls[0], "listed twice"), VideoSkipped(urls[1], "already done")])
    lines = report(display, Summary(skipped=22, elapsed=1.25), out="x/")
    assert lines == [
        "0 done, 0 failed, 22 skipped · 0 files (0.0 MiB) in x/ · 0 credits spent · 1.2 s",
        "20 skipped: over the budget of 0 credits (raise --budget to process them)",
        "    https://v.example/0 (costs 10 credits)",
        "    https://v.example/1 (costs 11 credits)",
        "    https://v.example/2 (costs 12 credits)",
        "    and 17 more (-v lists them all)",
        "1 skipped: listed twice in the sources (each source is processed once)",
        "    https://v.example/0",
        "1 skipped: already done in an earlier run",
        "    https://v.example/1",
    ]


def test_the_balance_running_out_is_a_reason_of_its_own() -> None:
    """The ledger's "not enough credits" groups apart from the budget, with the cost."""
    display = open_display(console(terminal=False)[0])
    reason = Credits(balance=5).reserve("https://v.example/0", 1)
    assert reason is None  # 4 left
    reason = Credits(balance=4).reserve("https://v.example/1", 10)
    assert reason is not None
    display(VideoSkipped("https://v.example/1", reason))
    lines = report(display, Summary(skipped=1))
    assert lines[1:] == [
        "1 skipped: not enough credits left in the workspace (top up, then run again to "
        "process it)",
        "    https://v.example/1 (costs 10 credits, 4 credits left)",
    ]


def test_failures_are_grouped_by_error_with_what_to_do() -> None:
    """Failures group by error class; paid ones resume on the next run, the others need
    `--retry-failed`; a failed clipping job says it is paid again."""
    display = open_display(console(terminal=False)[0])
    feed(
        display,
        [
            VideoFailed("https://a.example/1", Phase.SUBMITTED, "SubmissionFailed: job 1 failed"),
            VideoFailed("https://a.example/2", Phase.SUBMITTED, "SubmissionFailed: job 2 failed"),
            VideoFailed("https://b.example/1", Phase.PRICED, "APIConnectionError: reset"),
            VideoFailed("https://c.example/1", Phase.CLIPPED, "RenderFailed: render r1 failed"),
            VideoFailed("https://d.example/1", Phase.NEW, "KeyError: 'x'"),
            bad_source("s3://bucket/a.mp4"),
        ],
    )
    lines = report(display, Summary(failed=6))
    assert lines[1:] == [
        "2 failed: SubmissionFailed: the clipping job failed on the server (--retry-failed "
        "submits them again, paying again)",
        "    https://a.example/1 in phase submitted: job 1 failed",
        "    https://a.example/2 in phase submitted: job 2 failed",
        "1 failed: APIConnectionError: the network or the API failed (--retry-failed tries it "
        "again)",
        "    https://b.example/1 in phase priced: reset",
        "1 failed: RenderFailed: a render failed on the server (run again to resume it)",
        "    https://c.example/1 in phase clipped: render r1 failed",
        "1 failed: KeyError (--retry-failed tries it again)",
        "    https://d.example/1 in phase new: 'x'",
        "1 failed: UsageError: a bad source or option (fix it, then run again)",
        "    s3://bucket/a.mp4 in phase new: s3:// sources cannot be clipped: give a public "
        "http(s) URL, or download the file and give its local path",
    ]


def test_quiet_prints_only_failures_and_one_summary_line() -> None:
    """`-q`: no progress, however long the run; failure lines; one summary line that still
    names the reasons."""
    out, buffer = console(terminal=False)
    now = FakeClock()
    with open_display(out, verbosity=Verbosity.QUIET, clock=now) as display:
        feed(display, [StageStarted(u, Stage.ANALYZE) for u in sources(3)])
        feed(display, [over_budget(u, 10) for u in sources(2)])
        display(VideoSkipped("https://v.example/0", "listed twice"))
        now.now += 60
        display(VideoFailed("https://v.example/2", Phase.PRICED, "ValidationError: bad url"))
    display.report(Summary(failed=1, skipped=3, elapsed=2), out="x/")
    assert buffer.getvalue().splitlines() == [
        "failed https://v.example/2 in phase priced: ValidationError: bad url",
        "0 done, 1 failed (ValidationError), 3 skipped (2 over budget, 1 listed twice) · "
        "0 files (0.0 MiB) in x/ · 0 credits spent · 2.0 s",
    ]


def test_verbose_adds_prices_spends_files_skips_and_every_source() -> None:
    """`-v`: a line per priced video, credit spend, saved file and skip, and every skipped
    source in the summary; the normal display has none of these."""
    events: list[Event] = [
        Priced("https://v.example/0", "vid0", 1),
        CreditsSpent("https://v.example/0", 1, 31),
        FileSaved("https://v.example/0", "c1", Path("/o/c1.mp4"), 1024**2, "x"),
        *(over_budget(u, 10) for u in sources(5, "https://s.example/")),
    ]
    texts = {}
    for verbosity in (Verbosity.NORMAL, Verbosity.VERBOSE):
        out, buffer = console(terminal=False, width=60)
        with PlainProgress(out, verbosity, clock=FakeClock(), ticking=False) as display:
            feed(display, events)
        display.report(Summary(done=1, skipped=5, files=1, bytes=1024**2, credits_spent=1))
        texts[verbosity] = buffer.getvalue().splitlines()
    verbose = texts[Verbosity.VERBOSE]
    assert verbose[:4] == [
        "priced https://v.example/0: 1 credit",
        "spent 1 credit on https://v.example/0 (31 credits by this record)",
        "saved /o/c1.mp4 (1.0 MiB) from https://v.example/0",
        "skipped https://s.example/0 (costs 10 credits): over the budget of 0 credits (raise "
        "--budget to process it)",
    ]
    assert verbose[8].startswith("1 done, 0 failed, 5 skipped · 1 file (1.0 MiB) · 1 credit")
    assert verbose[10:] == [f"    https://s.example/{i} (costs 10 credits)" for i in range(5)]
    normal = texts[Verbosity.NORMAL]
    assert normal[0].startswith("1 done, 0 failed, 5 skipped")
    assert normal[-1] == "    and 2 more (-v lists them all)"


def test_summary_of_a_dry_run_an_interrupted_run_and_earlier_failures() -> None:
    """The summary line: "priced" and credits needed in a dry run, "interrupted" with what to
    do, and other videos of the record that failed in earlier runs (those skipped as "already
    failed" are explained by their own reason)."""
    display = open_display(console(terminal=False)[0])
    display(VideoSkipped("https://v.example/0", "already failed"))
    summary = Summary(done=2, credits_priced=30, elapsed=0.04, interrupted=True)
    lines = report(display, summary, dry_run=True, out=Path("out"), failed_in_record=3)
    assert lines == [
        "2 priced, 0 failed, 0 skipped · 0 files (0.0 MiB) in out · 0 credits spent · "
        "30 credits needed · 0.0 s · interrupted: run again to resume",
        "1 skipped: failed in an earlier run (cutpro status shows why; --retry-failed tries "
        "it again)",
        "    https://v.example/0",
        "2 other videos of this record failed in earlier runs (cutpro status shows why; "
        "--retry-failed tries them again)",
    ]


def test_summary_says_what_the_posts_did_and_why_some_failed() -> None:
    """A line of post counts, then the failed posts grouped by the API's error code."""
    display = open_display(console(terminal=False)[0])
    revoked = "CONNECTION_REVOKED: reconnect the account in cut.pro, then retry"
    for n in range(2):
        source = f"https://v.example/{n}"
        display(PostPlaced(source, f"c{n}", "tiktok:me", f"p{n}", None, False))
        display(PostFinished(source, f"c{n}", "tiktok:me", "failed", None, revoked))
        display(PostPlaced(source, f"d{n}", "youtube:me", f"q{n}", None, n == 1))
        display(PostFinished(source, f"d{n}", "youtube:me", "completed", "https://y/1", None))
    lines = report(display, display.tally.summary)
    assert lines[1:] == [
        "posts: 2 published, 2 failed (cutpro posts --retry-failed), 1 found already posted "
        "(not posted again)",
        "2 posts failed: CONNECTION_REVOKED: reconnect the account in cut.pro, then retry",
        "    https://v.example/0 clip c0 -> tiktok:me",
        "    https://v.example/1 clip c1 -> tiktok:me",
    ]


def test_text_from_sources_and_errors_is_never_markup() -> None:
    """Brackets in a source or an error print as they are, on a terminal or not."""
    for terminal in (True, False):
        out, buffer = console(terminal=terminal, width=200)
        display = Display(out, Verbosity.VERBOSE)
        display(VideoFailed("https://v.example/[red]x", Phase.NEW, "UsageError: [/] oops"))
        display(VideoSkipped("https://v.example/[b]", "weird [/bold] reason"))
        display.report(Summary(failed=1, skipped=1))
        text = buffer.getvalue()
        assert "https://v.example/[red]x in phase new: UsageError: [/] oops" in text
        assert "1 skipped: weird [/bold] reason" in text


def test_json_lines_keep_their_shape_and_add_the_reasons(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`--json`: an object per event on stdout, then the Summary with its usual fields plus
    `skipped_reasons` and `failed_reasons`; nothing on stderr."""
    display = open_display(console(terminal=False)[0], as_json=True)
    with display:
        display(over_budget("https://v.example/0", 10))
        display(VideoFailed("https://v.example/1", Phase.PRICED, "ValidationError: bad"))
    display.report(Summary(failed=1, skipped=1), dry_run=True, out="x")
    captured = capsys.readouterr()
    assert captured.err == ""
    lines = [orjson.loads(line) for line in captured.out.splitlines()]
    assert [line["event"] for line in lines] == ["VideoSkipped", "VideoFailed", "Summary"]
    summary = lines[-1]
    assert set(summary) >= {"done", "failed", "skipped", "credits_spent", "interrupted"}
    assert summary["skipped_reasons"] == [
        {
            "reason": "over budget",
            "text": "over the budget of 0 credits (raise --budget to process it)",
            "count": 1,
            "sources": ["https://v.example/0"],
        }
    ]
    assert summary["failed_reasons"][0]["reason"] == "ValidationError"
    assert summary["failed_reasons"][0]["count"] == 1
