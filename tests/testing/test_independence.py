"""The simulator imports nothing of the client, so a client mistake cannot leak into it."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "cutpro_async"
TESTING = PACKAGE / "testing"


def _module_parts(path: Path) -> list[str]:
    """The dotted name of a source file, as parts (`__init__` names its package)."""
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    package = _module_parts(path)
    if path.name != "__init__.py":
        package = package[:-1]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *(node.module or "").split(".")]).strip(".")
            yield node.lineno, module
            # `from . import x` may name a submodule: check it as well.
            yield from ((node.lineno, f"{module}.{alias.name}") for alias in node.names)


def test_the_resolver_sees_relative_imports() -> None:
    """The check is not vacuous: it resolves `from .._x import y` to `cutpro_async._x`."""
    sample = TESTING / "_api.py"
    found = {name for _, name in imported_modules(sample)}
    assert "cutpro_async.testing._routing" in found
    assert "aiohttp.web" in found


def test_simulator_imports_nothing_outside_its_package() -> None:
    """No file under `cutpro_async/testing` imports a `cutpro_async` module outside it."""
    files = sorted(TESTING.rglob("*.py"))
    assert len(files) > 20
    leaks = [
        f"{path.relative_to(PACKAGE.parent)}:{line}: {name}"
        for path in files
        for line, name in imported_modules(path)
        if name.split(".")[0] == "cutpro_async" and not name.startswith("cutpro_async.testing")
    ]
    assert leaks == []
