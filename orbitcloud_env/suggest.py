"""One "did you mean" for every error message that names an unknown key, id, preset or column."""

from __future__ import annotations

import difflib
from typing import Iterable

__all__ = ["did_you_mean", "closest"]


def closest(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str | None:
    """The entry of ``valid`` most like ``name`` (difflib ratio >= ``cutoff``), or None."""
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=1, cutoff=cutoff)
    return close[0] if close else None


def did_you_mean(name: str, valid: Iterable[str], cutoff: float = 0.6) -> str:
    """``"; did you mean 'x'?"`` for the closest entry of ``valid``, or ``""`` when none is close enough."""
    close = closest(name, valid, cutoff)
    return f"; did you mean {close!r}?" if close else ""
