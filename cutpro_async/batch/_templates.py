"""Checking a `str.format` template against the fields it may use, before anything is paid."""

from __future__ import annotations

import string
from collections.abc import Mapping

from ..errors import UsageError


def used_fields(template: str) -> set[str]:
    """The field names a template uses (`{a.b}` counts as `a`)."""
    return {
        field.split(".", 1)[0].split("[", 1)[0]
        for _, field, _, _ in string.Formatter().parse(template)
        if field is not None
    }


def check_template(template: str, samples: Mapping[str, object], what: str) -> None:
    """Refuse bad syntax, positional fields and fields not in `samples` (a value per field, of
    its type), naming `what` the template is and the fields there are."""
    try:
        used = used_fields(template)
        if any(not field or field.isdigit() for field in used):  # `{}` or `{0}`
            raise ValueError("use named fields such as {title}")
        template.format(**samples)
    except (AttributeError, IndexError, KeyError, TypeError, ValueError) as exc:
        problem = f"unknown field {{{exc.args[0]}}}" if isinstance(exc, KeyError) else str(exc)
        raise UsageError(
            f"bad {what} {template!r}: {problem}; fields are "
            + " ".join(f"{{{f}}}" for f in samples)
        ) from None
