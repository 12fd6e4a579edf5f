"""Plain Python data from nested values: the one "make it plain" helper, for config dicts, YAML run records and JSON
reports. Standard library and numpy only, so that config.py (the bottom layer) can use it.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np

__all__ = ["to_plain"]


def _keep(value: Any) -> Any:
    return value


def to_plain(value: Any, *, json_numbers: bool = False, other: Callable[[Any], Any] = _keep) -> Any:
    """A copy of ``value`` made of dicts, lists, None and exact bool/int/float/str, recursively.

    Mappings become dicts with ``str`` keys, lists and tuples become lists, numpy arrays their ``tolist()``, numpy
    scalars (and anything else with a scalar ``.item()``, e.g. a one-element torch tensor) their Python value, and
    subclasses of the builtins (numpy's, ``TorchVersion``) the builtin itself (YAML's ``safe_dump`` rejects them).

    Args:
        json_numbers: NaN and +-inf become None (strict JSON has no such numbers).
        other: what any other object becomes (default: itself).
    """
    if isinstance(value, Mapping):
        return {str(k): to_plain(v, json_numbers=json_numbers, other=other) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_plain(v, json_numbers=json_numbers, other=other) for v in value]
    if isinstance(value, np.ndarray):
        return to_plain(value.tolist(), json_numbers=json_numbers, other=other)
    if value is None:
        return None
    for kind in (bool, int, float, str):  # exact builtins (kind.__str__/__int__ of the builtin: an enum mixing in
        if isinstance(value, kind):      # str or int gives its value, not "Class.MEMBER")
            value = str.__str__(value) if kind is str else kind(value)
            if json_numbers and kind is float and not math.isfinite(value):
                return None
            return value
    if hasattr(value, "item") and callable(value.item):  # numpy scalar
        try:
            item = value.item()
        except (TypeError, ValueError):
            pass
        else:
            if item is not value:
                return to_plain(item, json_numbers=json_numbers, other=other)
    return other(value)
