"""Compute nodes: first-in first-out single-server queues for satellites and terrestrial data centres.

Each node ``n`` serves the jobs placed on it one at a time, in order of placement, at ``capacity_gflops[n]``.
Because service is FIFO and work is known on placement, a job's start and finish times are exact when it is
placed: ``start = max(arrival_at_node_s, free_at_s[n])`` and ``finish = start + work_gflop / capacity_gflops[n]``.
A node holds a job from placement until its compute finishes (in transit, waiting or in service); a node holding
``queue_limit[n]`` jobs is full and refuses new ones.

All times are seconds of simulated time (the event clock). No Gymnasium imports.
"""

from __future__ import annotations

import heapq

import numpy as np
from numpy.typing import NDArray

__all__ = ["ComputeNodes"]


class ComputeNodes:
    """FIFO queues of M compute nodes, vectorised for observation.

    Args:
        capacity_gflops: [GFLOP/s] (M,) service rate of each node (> 0).
        queue_limit: [jobs] (M,) jobs a node may hold at once (>= 1).
        power_w: [W] (M,) electrical power a node draws while computing.
    """

    def __init__(self, capacity_gflops: NDArray[np.float64], queue_limit: NDArray[np.int64],
                 power_w: NDArray[np.float64]) -> None:
        self.capacity_gflops = np.asarray(capacity_gflops, dtype=np.float64)
        self.queue_limit = np.asarray(queue_limit, dtype=np.int64)
        self.power_w = np.asarray(power_w, dtype=np.float64)
        m = self.capacity_gflops.shape[0]
        if self.queue_limit.shape != (m,) or self.power_w.shape != (m,):
            raise ValueError("capacity_gflops, queue_limit and power_w must all have shape (M,)")
        if np.any(self.capacity_gflops <= 0) or np.any(self.queue_limit < 1) or np.any(self.power_w < 0):
            raise ValueError("capacity_gflops must be > 0, queue_limit >= 1 and power_w >= 0 for every node")
        #: [s/GFLOP] inverse capacity, so compute time = work * seconds_per_gflop.
        self.seconds_per_gflop = 1.0 / self.capacity_gflops
        self.reset()

    def __len__(self) -> int:
        return self.capacity_gflops.shape[0]

    def reset(self) -> None:
        """Empty every queue."""
        m = len(self)
        #: [s] time at which each node's server finishes the work it already holds.
        self.free_at_s = np.zeros(m, dtype=np.float64)
        #: [jobs] jobs each node holds (placed, compute not finished).
        self.held = np.zeros(m, dtype=np.int64)
        self._finishing: list[tuple[float, int]] = []  # heap of (finish_s, node)
        self.busy_s = np.zeros(m, dtype=np.float64)

    def advance(self, time_s: float) -> None:
        """Release the jobs whose compute finished at or before ``time_s`` [s]."""
        heap = self._finishing
        held = self.held
        while heap and heap[0][0] <= time_s:
            _, node = heapq.heappop(heap)
            held[node] -= 1

    def full(self) -> NDArray[np.bool_]:
        """(M,) True where a node holds its queue limit."""
        return self.held >= self.queue_limit

    def occupancy(self) -> NDArray[np.float64]:
        """(M,) jobs held / queue limit, in [0, 1]."""
        return self.held / self.queue_limit

    def wait_s(self, arrival_at_node_s: NDArray[np.float64] | float) -> NDArray[np.float64]:
        """[s] (M,) queueing wait a job arriving at each node at ``arrival_at_node_s`` would have."""
        return np.maximum(self.free_at_s - arrival_at_node_s, 0.0)

    def place(self, node: int, arrival_at_node_s: float, work_gflop: float) -> tuple[float, float]:
        """Queue a job on ``node``; return its (start_s, finish_s) of compute."""
        start = max(arrival_at_node_s, float(self.free_at_s[node]))
        compute_s = work_gflop * float(self.seconds_per_gflop[node])
        finish = start + compute_s
        self.free_at_s[node] = finish
        self.held[node] += 1
        self.busy_s[node] += compute_s
        heapq.heappush(self._finishing, (finish, int(node)))
        return start, finish
