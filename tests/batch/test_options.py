"""Run options: one concurrency pool per stage, named as the stage is."""

from __future__ import annotations

import attrs
import pytest

from cutpro_async.batch import Concurrency, Stage


def test_concurrency_has_one_field_per_stage() -> None:
    """`Concurrency` fields are exactly the `Stage` values, so `--concurrency` keys, pools and
    progress bars all use one set of names."""
    assert [field.name for field in attrs.fields(Concurrency)] == [stage.value for stage in Stage]


def test_the_waits_have_separate_pools() -> None:
    """Waiting for clips and waiting for renders are sized apart, and each pool is positive."""
    sizes = Concurrency(wait_clips=5, wait_render=7)
    assert (sizes.of(Stage.WAIT_CLIPS), sizes.of(Stage.WAIT_RENDER)) == (5, 7)
    with pytest.raises(ValueError, match="wait_render"):
        Concurrency(wait_render=0)
