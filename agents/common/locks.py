"""One run per output folder: an exclusive ``flock`` on ``<folder>/.lock`` held by the run that writes there
(``evaluate.py -o``, ``train.py``'s run folder).

The lock file holds the holder's pid, host, command and start time (JSON), so a second run on the same folder
refuses at once with one line naming the running process. The lock is the kernel's ``flock`` on an open file, not
the file's existence: when a run dies (``kill -9``, out-of-memory kill, a crash) the kernel releases it, so a lock
file left by a killed run is stale by construction and the next run takes it over. A run that ends removes the
file while it still holds the lock; a run that locked a file just removed sees that the path no longer names the
file it locked (inode check) and tries again, so two runs never hold "the" lock at once. ``flock`` locks are local
to one machine: on a network file system two hosts may not see each other's lock.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from agents.common.cli import UsageError

__all__ = ["LOCK_FILE", "FolderLock", "FolderInUseError", "folder_holder", "lock_folder"]

#: Name of the lock file in a locked folder.
LOCK_FILE = ".lock"
#: A probe (:func:`folder_holder`) holds the lock for microseconds: a failed attempt is retried this many times,
#: this far apart [s], before the folder is reported in use.
_RETRIES, _RETRY_S = 3, 0.02


class FolderInUseError(UsageError):
    """Another live process holds the folder's lock."""


def _describe(raw: str) -> str:
    try:
        info = json.loads(raw)
        parts = [f"pid {int(info['pid'])} on {info.get('host', '?')}"]
        if info.get("command"):
            parts.append(f"({info['command']})")
        if info.get("started"):
            parts.append(f"since {info['started']}")
        return " ".join(parts)
    except (ValueError, KeyError, TypeError):
        return "another process (its lock file is unreadable)"


def _read(fd: int) -> str:
    try:
        return os.pread(fd, 4096, 0).decode("utf-8", errors="replace")
    except OSError:
        return ""


class FolderLock:
    """A held lock on ``folder`` (release with :meth:`release`, or by leaving the ``with`` block)."""

    def __init__(self, folder: Path, fd: int) -> None:
        self.folder = folder
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                if _same_file(self._fd, self.folder / LOCK_FILE):
                    os.unlink(self.folder / LOCK_FILE)  # while still held: see the module docstring
            except OSError:
                pass
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __del__(self) -> None:  # a lock dropped without release() (an exception past the run) is released here
        self.release()

    def __enter__(self) -> "FolderLock":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _same_file(fd: int, path: Path) -> bool:
    """Whether ``path`` still names the file open as ``fd``."""
    try:
        a, b = os.fstat(fd), os.stat(path)
    except OSError:
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def _try_lock(path: Path) -> tuple[int | None, str]:
    """(fd, "") with the lock held, or (None, the holder's description)."""
    holder = "another process"
    for attempt in range(_RETRIES):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(_read(fd))
            os.close(fd)
            if attempt + 1 < _RETRIES:
                time.sleep(_RETRY_S)
            continue
        if _same_file(fd, path):
            return fd, ""
        os.close(fd)  # locked a file its holder removed on release: lock the one now at the path
    return None, holder


def lock_folder(folder: str | os.PathLike, flag: str, command: str | None = None) -> FolderLock:
    """Take ``folder``'s lock (the folder must exist) and record this process in it.

    Raises :class:`FolderInUseError` (one line naming ``flag``, the folder and the running process) when another
    live process holds it; a lock left by a dead process is taken over.
    """
    folder = Path(folder)
    fd, holder = _try_lock(folder / LOCK_FILE)
    if fd is None:
        raise FolderInUseError(f"{flag}: {folder} is in use by {holder}; wait for that run to end, or choose "
                               "another folder")
    info = {"pid": os.getpid(), "host": socket.gethostname(),
            "command": command if command is not None else " ".join(sys.argv),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
    return FolderLock(folder, fd)


def folder_holder(folder: str | os.PathLike) -> str | None:
    """The description of the live process holding ``folder``'s lock, or None (no lock file, or a stale one).
    Creates nothing."""
    path = Path(folder) / LOCK_FILE
    if not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _describe(_read(fd))
    finally:
        os.close(fd)  # closing releases the probe's shared lock
    return None
