"""The episode seed ranges of the protocol, in one place: training, tuning and testing never share a seed.

| range | use | who draws from it |
|---|---|---|
| 0-999 (:data:`TRAINING`) | training | ``train.py --seed S`` (env ``i`` starts at ``S + i``; its eval envs at ``S + 10,000``, beyond every range here); distillation draws 32-bit seeds from ``SeedSequence([seed, worker, episode])`` (agents/training/distill.py), disjoint from these ranges in practice |
| 1000-1999 (:data:`TEST`) | testing | the README's results and docs (``evaluate.py --seed 1000 --episodes 20``: seeds 1000-1019), benchmarks/headroom.py |
| 2000-2999 (:data:`TUNING`) | tuning baselines | ``benchmarks/tune_heuristics.py`` (``tuned-admit``); it refuses test seeds |

A baseline tuned on test seeds would be scored on the episodes it was fitted to; the tuning script therefore takes
seeds from the training or tuning ranges only (:func:`check_tuning_seeds`).
"""

from __future__ import annotations

from typing import Iterable

__all__ = ["TRAINING", "TEST", "TUNING", "check_tuning_seeds", "parse_seed_range"]

#: Seeds of training runs (train.py --seed, its env i at seed + i).
TRAINING = range(0, 1000)
#: Seeds of the reported evaluations (README: 1000-1019).
TEST = range(1000, 2000)
#: Seeds of baseline tuning (benchmarks/tune_heuristics.py).
TUNING = range(2000, 3000)


def _span(r: range) -> str:
    return f"{r.start}-{r.stop - 1}"


def check_tuning_seeds(seeds: Iterable[int]) -> list[int]:
    """The seeds as a list when each lies in the tuning or training range; ValueError (one line) otherwise, naming
    the test range for a test seed."""
    out = [int(s) for s in seeds]
    if not out:
        raise ValueError("--seeds: no seed given")
    test = [s for s in out if s in TEST]
    if test:
        raise ValueError(f"--seeds: {test[0]} is a test seed (test range {_span(TEST)}, agents/common/seeds.py); tune on "
                         f"the tuning range {_span(TUNING)} or the training range {_span(TRAINING)}")
    other = [s for s in out if s not in TUNING and s not in TRAINING]
    if other:
        raise ValueError(f"--seeds: {other[0]} is outside the tuning range {_span(TUNING)} and the training range "
                         f"{_span(TRAINING)} (agents/common/seeds.py)")
    return out


def parse_seed_range(text: str) -> list[int]:
    """``"A-B"`` (inclusive), ``"A"`` or ``"A,B,C"`` as a list of ints; ValueError (one line) for anything else."""
    seeds: list[int] = []
    try:
        for part in str(text).split(","):
            part = part.strip()
            if "-" in part[1:]:
                a, b = part.split("-", 1) if not part.startswith("-") else (part, "")
                lo, hi = int(a), int(b)
                if hi < lo:
                    raise ValueError
                seeds.extend(range(lo, hi + 1))
            else:
                seeds.append(int(part))
    except ValueError:
        raise ValueError(f"--seeds: expected A-B, A or A,B,C with integers A <= B, got {text!r}") from None
    return seeds
