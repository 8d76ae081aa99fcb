"""Value models that check themselves: the timeframe is the one place timeframes are checked."""

from __future__ import annotations

import pytest

from cutpro_async import UsageError, models
from cutpro_async._converter import unstructure
from cutpro_async.models import Timeframe


def test_a_timeframe_from_a_pair_text_or_itself() -> None:
    """Pairs, `START:END` text and a `Timeframe` all give the same checked value."""
    frame = Timeframe(0, 90)
    assert Timeframe.of((0, 90)) == frame == Timeframe.parse("0:90")
    assert Timeframe.of(frame) is frame
    assert Timeframe.of(None) is None
    assert frame.seconds == 90.0
    assert isinstance(frame.start, float)


@pytest.mark.parametrize("text", ["90", "a:b", "10:5", "-1:5", ":", "5:5", "nan:5"])
def test_bad_timeframe_text_is_a_usage_error_saying_the_format(text: str) -> None:
    """Text that is not START:END with 0 <= START < END is refused with the expected shape."""
    with pytest.raises(UsageError, match="timeframe"):
        Timeframe.parse(text)


def test_request_bodies_leave_out_optional_fields_not_set() -> None:
    """Optional request fields left at None are omitted on the wire, not sent as `null`
    (the reference gives omission a meaning: every clip, now, the whole video)."""
    assert unstructure(models.ApplyTemplateRequest("t1")) == {"template_id": "t1"}
    assert "timeframe" not in unstructure(models.SubmitRequest("v1"))
    assert unstructure(models.UpdatePostRequest()) == {}
    assert unstructure(models.ApplyTemplateRequest("t1", ["c1"]))["clip_ids"] == ["c1"]
