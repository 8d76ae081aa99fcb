"""Words for people: counts with their plurals, sizes, times, and why videos were skipped or
failed (from the reason strings the pipeline and the credit ledger produce)."""

from __future__ import annotations

import math
import re

#: The pipeline's reason for a source given again in the same run (`Batch._feed`).
DUPLICATE = "listed twice"


def number(value: float) -> str:
    """A count or an amount as people write it: 3, 2.5, 1200 (never 1.2e+03)."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def plural(count: float, word: str, many: str | None = None) -> str:
    """`1 video`, `2 videos`, `0 videos`, `2.5 credits`: the count and the word that fits it."""
    return f"{number(count)} {word if count == 1 else many or word + 's'}"


def mib(size: float) -> str:
    """A size in MiB, one decimal: `12.3 MiB`."""
    return f"{size / 1024**2:.1f} MiB"


def clock(seconds: float) -> str:
    """Elapsed time as `MM:SS`, or `H:MM:SS` from an hour on."""
    minutes, secs = divmod(int(max(seconds, 0)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02}:{secs:02}" if hours else f"{minutes:02}:{secs:02}"


def them(text: str, count: int) -> str:
    """Fill the `{them}` of an explanation with `it` or `them`."""
    return text.replace("{them}", "it" if count == 1 else "them")


# -- why a video was skipped ------------------------------------------------------------------

_BUDGET = re.compile(
    r"^over budget: (?P<cost>\S+) credits? would take the record past (?P<budget>\S+)$"
)
_BALANCE = re.compile(r"^not enough credits: needs (?P<cost>\S+), (?P<left>\S+) left$")
_ALREADY = {
    "done": "already done in an earlier run",
    "failed": "failed in an earlier run (cutpro status shows why; --retry-failed tries {them} "
    "again)",
    "priced": "already priced by an earlier dry run",
    "skipped": "skipped in an earlier run",
}


def _credits(text: str) -> str:
    """`12 credits` from a figure in a reason (as is, if it is not a number)."""
    try:
        return plural(float(text), "credit")
    except ValueError:
        return f"{text} credits"


def skip_reason(reason: str) -> tuple[str, str, str]:
    """The group of a `VideoSkipped.reason` and what to tell people: (key, explanation, what
    is this video's own, e.g. " (costs 10 credits)", or "").

    Reasons that differ per video only in figures (the cost in "over budget: 10 credits would
    take the record past 0") share a key; an unknown reason is grouped by its text up to the
    first colon and explained by itself.
    """
    if reason == DUPLICATE:
        return DUPLICATE, "listed twice in the sources (each source is processed once)", ""
    if reason.startswith("over budget"):
        found = _BUDGET.match(reason)
        if found is None:
            return "over budget", "over the budget (raise --budget to process {them})", ""
        budget, cost = _credits(found["budget"]), _credits(found["cost"])
        text = f"over the budget of {budget} (raise --budget to process {{them}})"
        return "over budget", text, f" (costs {cost})"
    if reason.startswith("not enough credits"):
        text = "not enough credits left in the workspace (top up, then run again to process {them})"
        found = _BALANCE.match(reason)
        if found is None:
            return "not enough credits", text, ""
        cost, left = _credits(found["cost"]), _credits(found["left"])
        return "not enough credits", text, f" (costs {cost}, {left} left)"
    if reason.startswith("already "):
        phase = reason.removeprefix("already ")
        return reason, _ALREADY.get(phase, f"already {phase} in an earlier run"), ""
    key = reason.split(":", 1)[0].strip() or reason
    return key, reason, ""


# -- why a video failed -----------------------------------------------------------------------

_NETWORK = "the network or the API failed"
_DOWNLOAD = "a download failed"
#: What an error class means, and whether the generic advice (run again / --retry-failed)
#: applies; SubmissionFailed gives its own.
_FAILURES: dict[str, tuple[str, bool]] = {
    "SubmissionFailed": (
        "the clipping job failed on the server (--retry-failed submits {them} again, paying again)",
        False,
    ),
    "RenderFailed": ("a render failed on the server", True),
    "ValidationError": ("the API refused the source (a bad URL or file?)", True),
    "NotFound": ("the API does not know the video (a bad URL?)", True),
    "LocalFileError": ("a local file could not be read or written (a bad path or file?)", True),
    "InsufficientCredits": ("not enough credits in the workspace (top up first)", True),
    "AuthenticationError": ("the API refused the key", True),
    "PermissionDenied": ("the key may not do this", True),
    "SubmissionUncertain": (
        "a paid request's outcome is unknown (it is checked before paying again)",
        True,
    ),
    "TransferError": (_DOWNLOAD, True),
    "IntegrityError": (_DOWNLOAD + " its checks", True),
    "LinkExpired": (_DOWNLOAD + ": the link expired", True),
    "TransportError": (_NETWORK, True),
    "APIConnectionError": (_NETWORK, True),
    "APITimeoutError": (_NETWORK, True),
    "ServerError": (_NETWORK, True),
    "RateLimited": (_NETWORK + " (rate limited)", True),
    "UnexpectedResponse": ("the API sent an answer that could not be read", True),
    "WaitTimeout": ("a job took too long", True),
    "UsageError": ("a bad source or option (fix it, then run again)", False),
}


def failure_reason(error: str) -> tuple[str, str, str, bool]:
    """The group of a `VideoFailed.error` ("Type: message") and what to tell people:
    (key, explanation, the message, whether the generic advice applies)."""
    kind, _, message = error.partition(": ")
    if not message or " " in kind:  # not "Type: message": group by the whole text
        return error, error, "", True
    text, advice = _FAILURES.get(kind, ("", True))
    return kind, f"{kind}: {text}" if text else kind, message, advice


def failure_advice(paid: int, unpaid: int) -> str:
    """What to do about failed videos: paid ones resume on the next run, others need
    `--retry-failed`."""
    if not unpaid:
        return "run again to resume {them}"
    if not paid:
        return "--retry-failed tries {them} again"
    return "run again to resume the paid ones; --retry-failed tries the others too"
