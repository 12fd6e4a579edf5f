"""Compute nodes: first-in first-out queues over parallel servers, for satellites and terrestrial data centres.

Node ``n`` has ``servers[n]`` identical servers sharing ``capacity_gflops[n]`` (each serves at
``capacity_gflops[n] / servers[n]``). Jobs are served in order of placement, each on the server that frees up
first (an M/G/c FIFO queue; a satellite's accelerator is one server, a cloud region many). Because service is FIFO
and work is known on placement, a job's start and finish times are exact when it is placed:
``start = max(arrival_at_node_s, earliest server free time)`` and ``finish = start + work / per-server rate``.
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
    """FIFO queues of M compute nodes with parallel servers, vectorised for observation.

    Args:
        capacity_gflops: [GFLOP/s] (M,) total service rate of each node (> 0), split evenly over its servers.
        queue_limit: [jobs] (M,) jobs a node may hold at once (>= 1).
        power_w: [W] (M,) electrical power a node draws with every server busy (a busy server draws its share).
        servers: [-] (M,) parallel servers per node (>= 1); default one each.
    """

    def __init__(self, capacity_gflops: NDArray[np.float64], queue_limit: NDArray[np.int64],
                 power_w: NDArray[np.float64], servers: NDArray[np.int64] | None = None) -> None:
        self.capacity_gflops = np.asarray(capacity_gflops, dtype=np.float64)
        self.queue_limit = np.asarray(queue_limit, dtype=np.int64)
        self.power_w = np.asarray(power_w, dtype=np.float64)
        m = self.capacity_gflops.shape[0]
        self.servers = np.ones(m, dtype=np.int64) if servers is None else np.asarray(servers, dtype=np.int64)
        if self.queue_limit.shape != (m,) or self.power_w.shape != (m,) or self.servers.shape != (m,):
            raise ValueError("capacity_gflops, queue_limit, power_w and servers must all have shape (M,)")
        if np.any(self.capacity_gflops <= 0) or np.any(self.queue_limit < 1) or np.any(self.power_w < 0) \
                or np.any(self.servers < 1):
            raise ValueError("capacity_gflops must be > 0, queue_limit >= 1, power_w >= 0 and servers >= 1 for "
                             "every node")
        #: [s/GFLOP] inverse per-server rate, so a job's compute time = work * seconds_per_gflop.
        self.seconds_per_gflop = self.servers / self.capacity_gflops
        #: [W] power of one busy server.
        self.server_power_w = self.power_w / self.servers
        self.reset()

    def __len__(self) -> int:
        return self.capacity_gflops.shape[0]

    def reset(self) -> None:
        """Empty every queue."""
        m, width = len(self), int(self.servers.max(initial=1))
        #: [s] (M, max servers) time each server finishes the work it holds (inf for servers a node lacks).
        self.server_free_at_s = np.where(np.arange(width)[None, :] < self.servers[:, None], 0.0, np.inf)
        #: [s] (M,) time the first server of each node is free: when a new job could start at the earliest.
        self.free_at_s = np.zeros(m, dtype=np.float64)
        #: [jobs] jobs each node holds (placed, compute not finished).
        self.held = np.zeros(m, dtype=np.int64)
        self._finishing: list[tuple[float, int]] = []  # heap of (finish_s, node)

    def get_state(self) -> tuple:
        """A copy of the queues (servers' free times, jobs held, the finishing heap), for :meth:`set_state`."""
        return self.server_free_at_s.copy(), self.free_at_s.copy(), self.held.copy(), list(self._finishing)

    def set_state(self, state: tuple) -> None:
        """Return to queues from :meth:`get_state` (copied again: one saved state can be restored many times)."""
        server_free_at_s, free_at_s, held, finishing = state
        self.server_free_at_s = server_free_at_s.copy()
        self.free_at_s = free_at_s.copy()
        self.held = held.copy()
        self._finishing = list(finishing)

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
        free = self.server_free_at_s[node]
        if free.shape[0] == 1:
            start = max(arrival_at_node_s, float(free[0]))
            finish = start + work_gflop * float(self.seconds_per_gflop[node])
            free[0] = self.free_at_s[node] = finish
            self.held[node] += 1
            heapq.heappush(self._finishing, (finish, int(node)))
            return start, finish
        # The first server that frees soonest (np.argmin's pick), in Python floats: a row holds a few servers.
        times = free.tolist()
        first = min(times)
        server = times.index(first)
        start = max(arrival_at_node_s, first)
        compute_s = work_gflop * float(self.seconds_per_gflop[node])
        finish = start + compute_s
        free[server] = finish
        times[server] = finish
        self.free_at_s[node] = min(times)
        self.held[node] += 1
        heapq.heappush(self._finishing, (finish, int(node)))
        return start, finish

    def fail_nodes(self, nodes: NDArray[np.int64], time_s: float) -> None:
        """Nodes that fail at ``time_s`` [s] lose every job they hold: their servers are free from ``time_s`` and
        they hold nothing (the faults section; the simulator counts those jobs as failed when it places them)."""
        nodes = np.asarray(nodes, dtype=np.int64)
        if nodes.size == 0:
            return
        gone = set(nodes.tolist())
        free = self.server_free_at_s[nodes]
        self.server_free_at_s[nodes] = np.where(np.isfinite(free), np.minimum(free, time_s), free)
        self.free_at_s[nodes] = self.server_free_at_s[nodes].min(axis=1)
        self.held[nodes] = 0
        self._finishing = [e for e in self._finishing if e[1] not in gone]
        heapq.heapify(self._finishing)

    def energy_j(self, node: int, compute_s: float) -> float:
        """[J] energy of ``compute_s`` seconds of one busy server of ``node``."""
        return float(self.server_power_w[node]) * compute_s
