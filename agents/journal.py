"""The evaluation's episode journal: every finished episode is appended, as it finishes, to ``episodes.jsonl`` (the
full result, served-job latencies included: what ``--resume`` reads back) and to ``episodes.csv`` (one row, the
columns of the final episodes.csv), each flushed and synced per episode. A run killed at any point (Ctrl-C,
``kill -9``) keeps every finished episode; a line cut short by the kill is ignored when the journal is read.

At the end of a run the report rewrites episodes.csv atomically in (policy, episode) order; the journal files are
the record of a run in progress.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from agents.episode_metrics import EpisodeResult
from agents.io import write_text_atomic

__all__ = ["JOURNAL", "EPISODES_CSV", "EpisodeJournal", "read_journal", "result_from_json", "result_to_json"]

JOURNAL = "episodes.jsonl"
EPISODES_CSV = "episodes.csv"


def result_to_json(result: EpisodeResult) -> str:
    """One line: every field of the result except ``jobs`` (NaN kept as JSON ``NaN``, which :mod:`json` reads)."""
    d = {
        "policy": result.policy, "episode": int(result.episode), "seed": int(result.seed),
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "region_latency_ms": {k: float(v) for k, v in result.region_latency_ms.items()},
        "latencies_ms": [float(x) for x in np.asarray(result.latencies_ms, dtype=float)],
        "workload_digest": result.workload_digest, "wall_s": float(result.wall_s), "steps": int(result.steps),
        "reference": bool(result.reference),
    }
    return json.dumps(d, separators=(",", ":"))


def result_from_json(line: str) -> EpisodeResult:
    d = json.loads(line)
    return EpisodeResult(policy=d["policy"], episode=int(d["episode"]), seed=int(d["seed"]), metrics=d["metrics"],
                         region_latency_ms=d["region_latency_ms"],
                         latencies_ms=np.asarray(d["latencies_ms"], dtype=np.float64),
                         workload_digest=d["workload_digest"], wall_s=float(d["wall_s"]), steps=int(d["steps"]),
                         reference=bool(d["reference"]))


def read_journal(folder: str | os.PathLike) -> list[EpisodeResult]:
    """The finished episodes in ``<folder>/episodes.jsonl`` (none when there is no journal). A line that does not
    parse (the last one, cut by a kill) is skipped; a later (policy, seed) entry replaces an earlier one."""
    path = Path(folder) / JOURNAL
    if not path.is_file():
        return []
    out: dict[tuple[str, int], EpisodeResult] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                r = result_from_json(line)
            except (ValueError, KeyError, TypeError):
                continue
            out[(r.policy, r.seed)] = r
    return list(out.values())


def _csv_value(v: Any) -> Any:
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


class EpisodeJournal:
    """Appends finished episodes to ``episodes.jsonl`` and ``episodes.csv`` in ``folder``.

    The CSV header is the first policy row's columns (a reference row, which has the return only, waits in memory
    until a policy row has fixed the header; it is in the .jsonl at once). ``previous`` (a resumed run's results)
    are written first, replacing whatever the files held.
    """

    def __init__(self, folder: str | os.PathLike, previous: Iterable[EpisodeResult] = ()) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        previous = list(previous)
        self._columns: list[str] | None = None
        self._pending: list[dict[str, Any]] = []
        write_text_atomic(self.folder / JOURNAL, "".join(result_to_json(r) + "\n" for r in previous))
        rows = [r.row() for r in previous]
        policy_rows = [r.row() for r in previous if not r.reference]
        if policy_rows:
            self._columns = list(policy_rows[0])
            write_text_atomic(self.folder / EPISODES_CSV, self._csv(rows, header=True))
        else:
            self._pending = rows
            write_text_atomic(self.folder / EPISODES_CSV, "")
        self._jsonl = open(self.folder / JOURNAL, "a", encoding="utf-8")
        self._csv_fh = open(self.folder / EPISODES_CSV, "a", encoding="utf-8", newline="")

    def _csv(self, rows: list[dict[str, Any]], header: bool) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self._columns, lineterminator="\n", extrasaction="ignore")
        if header:
            writer.writeheader()
        for r in rows:
            writer.writerow({k: _csv_value(r.get(k, "")) for k in self._columns})
        return buf.getvalue()

    def append(self, result: EpisodeResult) -> None:
        """Record one finished episode (flushed and synced before returning)."""
        self._jsonl.write(result_to_json(result) + "\n")
        self._jsonl.flush()
        os.fsync(self._jsonl.fileno())
        row = result.row()
        if self._columns is None and result.reference:
            self._pending.append(row)
            return
        header = self._columns is None
        if header:
            self._columns = list(row)
        rows, self._pending = [*self._pending, row], []
        self._csv_fh.write(self._csv(rows, header=header))
        self._csv_fh.flush()
        os.fsync(self._csv_fh.fileno())

    def close(self) -> None:
        for fh in (self._jsonl, self._csv_fh):
            if not fh.closed:
                fh.close()

    def __enter__(self) -> "EpisodeJournal":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
