"""Package data: cities, gateways, data centres, and the shipped Starlink catalogue (see README.md here).

:func:`resolve_data_path` and :func:`read_table` are dependency-free (standard library only) so that the config
module, the bottom layer, can check a ``tle_path`` or a site count without importing the simulation core.
"""

from __future__ import annotations

import csv
import functools
import io
from importlib import resources
from pathlib import Path

__all__ = ["DATA_DIR", "PACKAGE_PREFIX", "NotARegularFileError", "read_table", "resolve_data_path"]

#: Folder of the package data files.
DATA_DIR = Path(__file__).resolve().parent
#: Prefix of a path inside the package data: ``"package:starlink-2026-05-12.tle"``.
PACKAGE_PREFIX = "package:"


class NotARegularFileError(OSError):
    """A data path exists but is not a regular file (FIFO, device, socket, folder)."""


def resolve_data_path(path: str | Path) -> Path:
    """The file a user path names: as given (absolute, or relative to the working directory) when it exists, else
    ``package:<name>`` or a bare ``<name>`` inside the package data folder.

    Raises:
        FileNotFoundError: naming the path and the places searched.
        NotARegularFileError: the path exists but is a FIFO, device, socket or folder (``/dev/zero``).
    """
    text = str(path)
    if text.startswith(PACKAGE_PREFIX):
        cand = DATA_DIR / text[len(PACKAGE_PREFIX):]
        if cand.is_file():
            return cand
        raise FileNotFoundError(f"{text!r}: no such file in the package data folder {DATA_DIR} "
                                f"(files: {', '.join(sorted(p.name for p in DATA_DIR.iterdir() if p.is_file()))})")
    p = Path(text)
    if p.is_file():
        return p
    if p.exists():  # stat only: opening a FIFO would block
        raise NotARegularFileError(f"{text!r}: not a regular file (a FIFO, device, socket or folder); give the path "
                                   "of a TLE text file")
    if p.name == text and (DATA_DIR / text).is_file():
        return DATA_DIR / text
    raise FileNotFoundError(f"{text!r}: no such file (searched the working directory and, for a bare name, "
                            f"the package data folder {DATA_DIR})")


@functools.lru_cache(maxsize=None)
def read_table(filename: str) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Header and rows of a packaged CSV (``cities.csv``, ``gateways.csv``, ``data_centres.csv``), ``#`` comment
    lines skipped, cells stripped; cached per file.

    Raises:
        ValueError: a row whose field count differs from the header's.
    """
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    rows = list(csv.reader(io.StringIO("\n".join(lines))))
    header = tuple(h.strip() for h in rows[0])
    body = tuple(tuple(c.strip() for c in r) for r in rows[1:])
    for r in body:
        if len(r) != len(header):
            raise ValueError(f"{filename}: row {r} has {len(r)} fields, header {header} has {len(header)}")
    return header, body
