"""One run per output folder (agents/locks.py): a live holder is named, a killed one's lock is taken over."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from agents.locks import LOCK_FILE, FolderInUseError, folder_holder, lock_folder

ROOT = Path(__file__).resolve().parents[2]

HOLD = """
import sys, time
from agents.locks import lock_folder
lock = lock_folder(sys.argv[1], "-o", command="evaluate.py -o results")
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture
def holder(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "locked"
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    proc.stdout.close()


def test_a_live_holder_is_named_and_a_killed_ones_lock_taken_over(tmp_path, holder):
    with pytest.raises(FolderInUseError) as info:
        lock_folder(tmp_path, "-o")
    message = str(info.value)
    assert "\n" not in message and f"pid {holder.pid}" in message and "evaluate.py -o results" in message
    assert f"pid {holder.pid}" in folder_holder(tmp_path)

    os.kill(holder.pid, signal.SIGKILL)  # the kernel drops the flock with the process
    holder.wait()
    assert folder_holder(tmp_path) is None  # the lock file is still there, but stale
    with lock_folder(tmp_path, "-o", command="second run") as lock:
        assert lock.held
        info = json.loads((tmp_path / LOCK_FILE).read_text())
        assert info["pid"] == os.getpid() and info["command"] == "second run"
    assert not lock.held and folder_holder(tmp_path) is None
    assert not (tmp_path / LOCK_FILE).exists()  # a run that ends removes its lock file


def test_a_second_lock_in_one_process_is_refused_until_released(tmp_path):
    first = lock_folder(tmp_path, "-o")
    with pytest.raises(FolderInUseError, match=f"pid {os.getpid()}"):
        lock_folder(tmp_path, "-o")
    first.release()
    lock_folder(tmp_path, "-o").release()
