"""The evaluation's episode journal: every finished episode is appended, as it finishes, to ``episodes.jsonl`` (the
full result, served-job latencies included: what ``--resume`` reads back) and to ``episodes.csv`` (one row, the
columns of the final episodes.csv), each flushed and synced per episode. A run killed at any point (Ctrl-C,
``kill -9``) keeps every finished episode; a line cut short by the kill is ignored when the journal is read.

At the end of a run the report rewrites episodes.csv atomically in (policy, episode) order; the journal files are
the record of a run in progress.

Each ``episodes.jsonl`` row carries the hash of the command that produced it (``command_sha256``: the entries of
command.json that decide the results, :func:`command_hash`) and, last, ``row_sha256``: the SHA-256 of the row's
text before it. ``--resume`` reads the journal strictly (:func:`read_journal` with ``command_sha256``): a row whose
checksum does not match its text (edited), that another command wrote, or whose (policy, seed) is not one of this
command's episodes is refused, naming the line. The checksum detects edits and mix-ups, not a forger who
recomputes it (the hash is not keyed): the journal is a record of the run, not a signature.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import os
import re
from pathlib import Path
from typing import Any, Collection, Iterable, Mapping

import numpy as np

from agents.common.io import write_text_atomic
from agents.evaluating.episode_metrics import EpisodeResult

__all__ = ["JOURNAL", "EPISODES_CSV", "EpisodeJournal", "JournalError", "command_hash", "read_journal",
           "result_from_json", "result_to_json"]

JOURNAL = "episodes.jsonl"
EPISODES_CSV = "episodes.csv"


_CHECKSUM = re.compile(r'(?P<body>.*),"row_sha256":"(?P<sha>[0-9a-f]{64})"\}')


class JournalError(ValueError):
    """A journal row that ``--resume`` may not use (the message names the file and the line)."""


def command_hash(command: Mapping[str, Any]) -> str:
    """SHA-256 of a command's entries as canonical JSON (sorted keys): equal commands, equal hashes."""
    text = json.dumps(command, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def result_to_json(result: EpisodeResult, command_sha256: str | None = None) -> str:
    """One line: every field of the result except ``jobs`` (NaN kept as JSON ``NaN``, which :mod:`json` reads);
    with ``command_sha256``, that hash and then ``row_sha256``, the checksum of the text before it."""
    d = {
        "policy": result.policy, "episode": int(result.episode), "seed": int(result.seed),
        "metrics": {k: float(v) for k, v in result.metrics.items()},
        "region_latency_ms": {k: float(v) for k, v in result.region_latency_ms.items()},
        "latencies_ms": [float(x) for x in np.asarray(result.latencies_ms, dtype=float)],
        "workload_digest": result.workload_digest, "wall_s": float(result.wall_s), "steps": int(result.steps),
        "reference": bool(result.reference),
    }
    if command_sha256 is None:
        return json.dumps(d, separators=(",", ":"))
    d["command_sha256"] = command_sha256
    body = json.dumps(d, separators=(",", ":"))
    return f'{body[:-1]},"row_sha256":"{_sha256(body)}"}}'


def result_from_json(line: str) -> EpisodeResult:
    d = json.loads(line)
    return EpisodeResult(policy=d["policy"], episode=int(d["episode"]), seed=int(d["seed"]), metrics=d["metrics"],
                         region_latency_ms=d["region_latency_ms"],
                         latencies_ms=np.asarray(d["latencies_ms"], dtype=np.float64),
                         workload_digest=d["workload_digest"], wall_s=float(d["wall_s"]), steps=int(d["steps"]),
                         reference=bool(d["reference"]))


def _check_row(line: str, command_sha256: str, episodes: Collection[tuple[str, int]] | None) -> EpisodeResult:
    """The row's result, or JournalError saying what is wrong with it (without the file and line)."""
    m = _CHECKSUM.fullmatch(line)
    if m is None:
        raise JournalError("has no row_sha256 checksum (written by an older version, or edited)")
    body = m.group("body") + "}"
    if _sha256(body) != m.group("sha"):
        raise JournalError("does not match its row_sha256 checksum (edited after it was written?)")
    try:
        d = json.loads(body)
        result = result_from_json(body)
    except (ValueError, KeyError, TypeError) as exc:
        raise JournalError(f"does not parse ({exc})") from None
    if d.get("command_sha256") != command_sha256:
        raise JournalError("was written by another command (its command_sha256 differs from this run's)")
    if episodes is not None and (result.policy, result.seed) not in episodes:
        raise JournalError(f"holds policy {result.policy!r} seed {result.seed}, not an episode of this command")
    return result


def read_journal(folder: str | os.PathLike, command_sha256: str | None = None,
                 episodes: Collection[tuple[str, int]] | None = None) -> list[EpisodeResult]:
    """The finished episodes in ``<folder>/episodes.jsonl`` (none when there is no journal); a later
    (policy, seed) entry replaces an earlier one.

    Without ``command_sha256`` (counting what a run has done) a line that does not parse is skipped. With it
    (``--resume``) every row must carry that command hash and a matching checksum, and its (policy, seed) must be
    in ``episodes`` when given: :class:`JournalError` names the first line that does not. Either way the last line
    is ignored when it is cut short (no newline: a write that a kill interrupted).
    """
    path = Path(folder) / JOURNAL
    if not path.is_file():
        return []
    out: dict[tuple[str, int], EpisodeResult] = {}
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            torn = not line.endswith("\n")
            line = line.rstrip("\n")
            if command_sha256 is None:
                try:
                    r = result_from_json(line)
                except (ValueError, KeyError, TypeError):
                    continue
            else:
                try:
                    r = _check_row(line, command_sha256, episodes)
                except JournalError as exc:
                    if torn:
                        continue
                    raise JournalError(f"{path} line {number} {exc}") from None
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
    are written first, replacing whatever the files held. With ``command_sha256`` every .jsonl row carries it and
    its checksum (what ``--resume`` checks).
    """

    def __init__(self, folder: str | os.PathLike, previous: Iterable[EpisodeResult] = (),
                 command_sha256: str | None = None) -> None:
        self.folder = Path(folder)
        self.command_sha256 = command_sha256
        self.folder.mkdir(parents=True, exist_ok=True)
        previous = list(previous)
        self._columns: list[str] | None = None
        self._pending: list[dict[str, Any]] = []
        write_text_atomic(self.folder / JOURNAL, "".join(result_to_json(r, command_sha256) + "\n" for r in previous))
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
        self._jsonl.write(result_to_json(result, self.command_sha256) + "\n")
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
