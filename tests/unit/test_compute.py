"""FIFO compute queues: exact start/finish times, occupancy, limits."""

import numpy as np
import pytest

from orbitcloud_env.compute import ComputeNodes


def _nodes():
    return ComputeNodes(np.array([100.0, 1000.0]), np.array([2, 5]), np.array([50.0, 500.0]))


def test_fifo_start_and_finish_times_are_exact():
    n = _nodes()
    assert n.place(0, 1.0, 200.0) == (1.0, 3.0)  # 200 GFLOP at 100 GFLOP/s
    assert n.place(0, 2.0, 100.0) == (3.0, 4.0)  # waits for the first job
    assert n.place(1, 2.0, 500.0) == (2.0, 2.5)  # other node is idle
    np.testing.assert_allclose(n.wait_s(2.0), [2.0, 0.5])


def test_queue_limit_and_release():
    n = _nodes()
    n.place(0, 0.0, 100.0)
    n.place(0, 0.0, 100.0)
    assert n.full().tolist() == [True, False]
    np.testing.assert_allclose(n.occupancy(), [1.0, 0.0])
    n.advance(1.0)  # first job finished at 1 s
    assert n.held.tolist() == [1, 0] and not n.full()[0]
    n.advance(10.0)
    assert n.held.tolist() == [0, 0]
    n.reset()
    assert n.free_at_s.tolist() == [0.0, 0.0]


def test_bad_arrays_are_rejected():
    with pytest.raises(ValueError, match="capacity_gflops"):
        ComputeNodes(np.array([0.0]), np.array([1]), np.array([1.0]))
    with pytest.raises(ValueError, match="shape"):
        ComputeNodes(np.array([1.0, 2.0]), np.array([1]), np.array([1.0]))


def test_parallel_servers_share_capacity_and_a_long_job_blocks_only_its_server():
    # 2 servers of 50 GFLOP/s each: a 500 GFLOP job occupies one for 10 s; a small job right after starts at once.
    n = ComputeNodes(np.array([100.0]), np.array([8]), np.array([80.0]), servers=np.array([2]))
    assert n.place(0, 0.0, 500.0) == (0.0, 10.0)
    assert n.place(0, 0.0, 50.0) == (0.0, 1.0)
    assert n.place(0, 0.5, 50.0) == (1.0, 2.0)  # both busy: waits for the first to free up
    np.testing.assert_allclose(n.wait_s(0.5), [1.5])  # next free server at 2.0 s
    assert n.energy_j(0, 1.0) == 40.0  # one busy server draws half of the node's power
    n.reset()
    np.testing.assert_allclose(n.wait_s(0.0), [0.0])
