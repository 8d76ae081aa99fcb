"""The README's library example runs as written against the simulator."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from cutpro_async.testing import FakeCutPro

pytestmark = pytest.mark.anyio
README = Path(__file__).resolve().parent.parent / "README.md"


def library_example() -> str:
    """The first Python block after the library heading."""
    text = README.read_text()
    section = text[text.index("## The library") :]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)  # type: ignore[union-attr]


async def test_the_library_example_downloads_clips(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run as written (credentials from the environment), it leaves real MP4 files in clips/."""
    async with FakeCutPro(time_scale=60_000) as fake:
        monkeypatch.setenv("CUTPRO_API_KEY", fake.api_key)
        monkeypatch.setenv("CUTPRO_API_URL", fake.base_url)
        monkeypatch.chdir(tmp_path)
        code = "async def example():\n" + textwrap.indent(library_example(), "    ")
        namespace: dict[str, object] = {}
        exec(compile(code, "README.md", "exec"), namespace)
        await namespace["example"]()  # type: ignore[operator]
    files = list((tmp_path / "clips").glob("*.mp4"))
    assert files, "the example saved no clip"
    assert all(f.read_bytes()[4:8] == b"ftyp" for f in files)
