"""The observation type of OrbitCloud: per-row node features and the job's features, normalised where declared.

See the env docstring (``help(orbitcloud_env.OrbitCloudEnv)``) and docs/env_contract.md for the table of keys.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from orbitcloud_env.simulator import POSITION_SCALE_KM, NodeView, Simulator
from orbitcloud_env.timeline import LIGHT_HORIZON_S, VIEW_HORIZON_S

__all__ = ["NodeObservation", "NODE_KEYS", "POSITION_KEYS", "UNIT_NODE_KEYS", "TIME_NODE_KEYS",
           "N_JOB_BASE_FEATURES", "extra_job_features"]

#: Number of job features before the one-hot job class (see :class:`NodeObservation`).
N_JOB_BASE_FEATURES = 8
#: Per-node observation keys, each of shape (M,), by range: [-1, 1], [0, 1] and [0, time_clip].
POSITION_KEYS = ("node_x", "node_y", "node_z")
UNIT_NODE_KEYS = ("node_sunlit", "node_soc", "node_sunlit_soon", "node_isl_up", "node_direct", "node_queue",
                  "node_is_ground", "node_valid")
TIME_NODE_KEYS = ("node_wait", "node_latency", "node_compute")
#: All per-node keys, in the row order of the observation's feature matrix.
NODE_KEYS = POSITION_KEYS + UNIT_NODE_KEYS + TIME_NODE_KEYS
_ROW = {key: i for i, key in enumerate(NODE_KEYS)}
_TIME_ROWS = slice(_ROW[TIME_NODE_KEYS[0]], _ROW[TIME_NODE_KEYS[-1]] + 1)
#: Optional groups (``observation.groups``): their per-node keys and range, and their job features.
GROUP_NODE_KEYS: dict[str, tuple[tuple[str, str], ...]] = {
    "backlog": (("node_backlog", "time"),),
    "load": (("node_utilisation", "unit"),),
    "power": (("node_light_change", "unit"),),
    "links": (("node_view_left", "unit"),),
    "progress": (),
    "ranking": (("node_finish", "time"), ("node_rank", "unit")),
    "value": (),
    "trend": (),
}
GROUP_JOB_FEATURES: dict[str, tuple[str, ...]] = {
    "backlog": (), "load": ("global_rate", "region_rate"), "power": (), "links": (), "progress": ("progress",),
    "ranking": (), "value": ("job_value",), "trend": ("rate_trend", "long_rate"),
}


def extra_job_features(groups: Sequence[str]) -> list[str]:
    """Names of the job features the observation ``groups`` add, in the order they follow the base features and the
    class one-hot in ``job`` (see :data:`GROUP_JOB_FEATURES`)."""
    return [name for g in groups for name in GROUP_JOB_FEATURES[g]]

#: [value units] scale of ``job_value``: log10(1 + value) / log10(1 + VALUE_SCALE), clipped at 1 (a v2 batch job of
#: median work is worth 4, the 99.9th percentile of its log-normal work ~35).
VALUE_SCALE = 100.0
#: [s] scale of ``node_backlog`` (queued work per server / 60 s, clipped at ``time_clip``).
BACKLOG_SCALE_S = 60.0
#: [-] scale of the recent arrival rates: rate / (configured mean rate x this), clipped at 1.
RATE_SCALE = 4.0


class NodeObservation:
    """Builds the observation dict for the rows chosen by the action type (see the env docstring's table)."""

    def __init__(self, sim: Simulator, n_rows: int) -> None:
        self.sim = sim
        self.n_rows = n_rows
        self.time_clip = float(sim.config.episode.time_clip)
        self.n_classes = len(sim.job_class_names)
        m, c = n_rows, self.time_clip
        f32 = np.float32
        unit = {key: spaces.Box(0.0, 1.0, (m,), f32) for key in UNIT_NODE_KEYS}
        self.groups = tuple(sim.config.observation.groups)
        self.extra_keys = [(key, kind) for g in self.groups for key, kind in GROUP_NODE_KEYS[g]]
        self.extra_job = extra_job_features(self.groups)
        self._space = spaces.Dict({
            **{key: spaces.Box(-1.0, 1.0, (m,), f32) for key in POSITION_KEYS},
            **unit,
            **{key: spaces.Box(0.0, c, (m,), f32) for key in TIME_NODE_KEYS},
            **{key: spaces.Box(0.0, c if kind == "time" else 1.0, (m,), f32) for key, kind in self.extra_keys},
            "job": spaces.Box(-1.0, 1.0, (N_JOB_BASE_FEATURES + self.n_classes + len(self.extra_job),), f32),
        })

        m_all = sim.n_nodes
        #: (F, M) float32 features of every node, one row per key of NODE_KEYS; gathered by row each step.
        self._matrix = np.zeros((len(NODE_KEYS), m_all), dtype=np.float32)
        n_sat = sim.n_sat
        for key in ("node_sunlit", "node_soc", "node_sunlit_soon"):
            self._matrix[_ROW[key], n_sat:] = 1.0  # ground nodes: always powered
        self._matrix[_ROW["node_is_ground"]] = sim.is_ground
        self._inv_queue_limit = (1.0 / sim.compute.queue_limit).astype(np.float32)
        self._topology_version = -1
        self._site_lat_lon = [(float(a), float(b)) for a, b in zip(sim.sites.lat_deg, sim.sites.lon_deg)]
        #: Per site, the job features that depend on the site alone: (lat / 90, sin lon, cos lon).
        self._site_features = [(lat / 90.0, math.sin(math.radians(lon)), math.cos(math.radians(lon)))
                               for lat, lon in self._site_lat_lon]
        self._one_hot = [[1.0 if i == c else 0.0 for i in range(self.n_classes)] for c in range(self.n_classes)]
        # Optional groups' state: per-bucket sunlight change (N,), per-(bucket, site) view time (M,).
        self._light = np.ones(m_all, dtype=np.float32)
        self._view_left: dict[int, NDArray[np.float32]] = {}
        w = sim.config.workload
        share = np.bincount(sim.site_region, weights=sim.sites.weight / sim.sites.weight.sum(),
                            minlength=max(sim.n_dc, 1))
        self._inv_rate = 1.0 / (w.arrival_rate_per_s * RATE_SCALE)
        self._inv_log_value = 1.0 / math.log10(1.0 + VALUE_SCALE)
        self._inv_region_rate = 1.0 / (w.arrival_rate_per_s * RATE_SCALE * np.maximum(share, 1e-9))
        #: [-] episode progress in [0, 1] (set by the env before observe).
        self.progress = 0.0
        self._times: NDArray[np.float64] | None = None

    def space(self) -> spaces.Dict:
        return self._space

    def observe(self, view: NodeView, rows: NDArray[np.int64] | None) -> dict[str, NDArray[np.float32]]:
        """The observation for the current job; ``rows`` are global nodes (-1 padding), None for all nodes.

        Rows that change with the topology bucket live in a persistent (F, M) float32 matrix (the battery row is
        read anew every step, since each placement draws energy); the per-job rows are computed only for the
        listed nodes.
        """
        sim, clip = self.sim, self.time_clip
        if self._topology_version != sim.topology_version:
            self._refresh_bucket_rows()
        if rows is None:
            self._matrix[_ROW["node_soc"], : sim.n_sat] = sim.batteries.soc
            out = self._matrix.copy()
            idx = slice(None)
            at = view
        else:
            idx = np.maximum(rows, 0)
            out = self._matrix[:, idx]
            sats = idx < sim.n_sat
            out[_ROW["node_soc"], sats] = sim.batteries.soc_at(idx[sats])  # (the matrix's row is not kept here)
            at = view.rows(rows)  # the view's values at the rows only (padding rows are zeroed below)
        inv_deadline = 1.0 / sim.job.deadline_ms
        out[_ROW["node_direct"]] = at.direct
        out[_ROW["node_queue"]] = sim.compute.held[idx] * self._inv_queue_limit[idx]
        out[_ROW["node_valid"]] = at.valid
        # The three time rows (consecutive in NODE_KEYS) in one multiply and one minimum: the float64 product,
        # rounded to float32, then clipped, as row by row.
        rows_t = out[_TIME_ROWS]
        times = self._time_buffer(out.shape[1])  # (3, rows) float64, filled in place of an np.stack
        times[0], times[1], times[2] = at.wait_ms, at.latency_ms, at.compute_ms
        np.multiply(times, inv_deadline, out=rows_t, casting="same_kind")
        np.minimum(rows_t, clip, out=rows_t)
        pad = rows < 0 if rows is not None and rows[-1] < 0 else None
        if pad is not None:  # padding rows (they end the list) are all zeros
            out[:, pad] = 0.0
        obs = dict(zip(NODE_KEYS, out))
        if self.extra_keys:
            # Estimated finish in deadlines of the listed rows, shared by node_finish and node_rank (float64).
            finish = (np.minimum(at.finish_ms / sim.job.deadline_ms, clip)
                      if "ranking" in self.groups else None)  # the listed rows only
            for key, _ in self.extra_keys:
                value = self._extra_row(key, view, at, rows, idx, finish)
                if pad is not None:
                    value[pad] = 0.0
                obs[key] = value
        obs["job"] = self._job_features()
        return obs

    def _time_buffer(self, n: int) -> NDArray[np.float64]:
        """A (3, n) float64 scratch array for the time rows (kept between steps)."""
        buf = self._times
        if buf is None or buf.shape[1] != n:
            buf = self._times = np.empty((3, n))
        return buf

    def _extra_row(self, key: str, view: NodeView, at: NodeView, rows: NDArray[np.int64] | None, idx,
                   finish: NDArray[np.float64] | None) -> NDArray[np.float32]:
        """One optional group's per-node row for the listed nodes (see GROUP_NODE_KEYS); ``at`` is ``view`` at
        those nodes, ``finish`` their estimated finish in deadlines (group "ranking")."""
        sim = self.sim
        if key == "node_backlog":
            free = sim.compute.server_free_at_s[idx]
            queued = np.where(np.isfinite(free), np.maximum(free - sim.time_s, 0.0), 0.0).sum(axis=1)
            backlog = queued / sim.compute.servers[idx] / BACKLOG_SCALE_S
            return np.minimum(backlog, self.time_clip).astype(np.float32)
        if key == "node_utilisation":
            return sim.topology.utilisation[idx].astype(np.float32)
        if key == "node_light_change":  # (an index array's gather is a copy already)
            return self._light[idx].copy() if rows is None else self._light[idx]
        if key == "node_view_left":
            return self._view_left_row(view)[idx].copy() if rows is None else self._view_left_row(view)[idx]
        if key in ("node_finish", "node_rank"):
            if key == "node_finish":
                return finish.astype(np.float32)
            valid = at.valid & (rows >= 0 if rows is not None else True)
            order = np.where(valid, finish, np.inf).argsort(kind="stable")
            rank = np.empty(order.size)
            rank[order] = np.arange(order.size)
            n_valid = max(int(np.count_nonzero(valid)) - 1, 1)
            return np.where(valid, np.minimum(rank / n_valid, 1.0), 1.0).astype(np.float32)
        raise KeyError(key)  # pragma: no cover - keys come from GROUP_NODE_KEYS

    def _view_left_row(self, view: NodeView) -> NDArray[np.float32]:
        """(M,) time until each node leaves the job site's view / VIEW_HORIZON_S (0: not in view; ground: 1)."""
        sim = self.sim
        site = sim.job.site
        row = self._view_left.get(site)
        if row is None:
            row = np.zeros(sim.n_nodes, dtype=np.float32)
            row[sim.n_sat:] = 1.0
            visible = view.direct[: sim.n_sat].nonzero()[0]
            if sim.timeline is not None:  # untracked satellites are never rows (candidates mode): left at 0
                visible = visible[sim.timeline.tracks(visible)]
            if sim.timeline is not None and visible.size:
                lat, lon = self._site_lat_lon[site]
                t = sim.timeline.time_in_view_s(sim.topology.snapshot.time_s, lat, lon, visible,
                                                sim.config.links.min_elevation_deg)
                row[visible] = t / VIEW_HORIZON_S
            self._view_left[site] = row
        return row

    def _refresh_bucket_rows(self) -> None:
        """Rows that change only with the topology bucket: position, sunlight, ISLs."""
        sim, mat, n_sat = self.sim, self._matrix, self.sim.n_sat
        pos = sim.node_ecef_km.T / POSITION_SCALE_KM
        for i, key in enumerate(POSITION_KEYS):
            np.clip(pos[i], -1.0, 1.0, out=mat[_ROW[key]], casting="same_kind")
        mat[_ROW["node_sunlit"], :n_sat] = sim.sunlit
        mat[_ROW["node_sunlit_soon"], :n_sat] = sim.sunlit_soon
        mat[_ROW["node_isl_up"], :n_sat] = sim.isl_up_fraction
        self._topology_version = sim.topology_version
        self._view_left = {}
        if "power" in self.groups and sim.timeline is not None:
            dt = sim.timeline.time_to_light_change_s(sim.topology.snapshot.time_s, sim.sunlit)
            self._light[:n_sat] = dt / LIGHT_HORIZON_S

    def _job_features(self) -> NDArray[np.float32]:
        sim = self.sim
        job = sim.job
        lon_deg = self._site_lat_lon[job.site][1]
        lat_f, sin_lon, cos_lon = self._site_features[job.site]
        utc_hour = ((sim.epoch_second_of_day_utc + sim.time_s) / 3600.0) % 24.0
        local_hour = (utc_hour + lon_deg / 15.0) % 24.0
        f = [
            min(math.log10(1.0 + job.work_gflop) / 6.0, 1.0),
            min(math.log10(1.0 + job.input_mb) / 4.0, 1.0),
            min(math.log10(1.0 + job.output_mb) / 4.0, 1.0),
            min(max(math.log10(max(job.deadline_ms, 1e-9)) / 7.0, -1.0), 1.0),
            lat_f,
            sin_lon,
            cos_lon,
            min(local_hour / 24.0, 1.0),
        ] + self._one_hot[job.job_class]
        if self.extra_job:
            extra = {"progress": min(max(self.progress, 0.0), 1.0)}
            if "job_value" in self.extra_job:
                extra["job_value"] = min(math.log10(1.0 + sim.job_value(job)) * self._inv_log_value, 1.0)
            if "rate_trend" in self.extra_job:
                # Both windows start empty at reset: divide by the weight they have filled so far (1 - exp(-t/tau)),
                # so that a steady stream reads the same rate in both from the first jobs on (no warm-up trend).
                elapsed = sim.time_s - sim.start_time_s
                fill_short = -math.expm1(-elapsed / sim.arrival_rates.tau_s)
                fill_long = -math.expm1(-elapsed / sim.arrival_trend.tau_s)
                if fill_long > 1e-9:
                    short = sim.arrival_rates.rates(sim.time_s)[0] / fill_short
                    long = sim.arrival_trend.rates(sim.time_s)[0] / fill_long
                else:  # the episode's first instant: no rate to compare yet
                    short = long = 0.0
                # (short - long) / (short + long): +1 demand rising, -1 falling, 0 steady (or no arrivals yet).
                extra["rate_trend"] = (short - long) / (short + long) if short + long > 0 else 0.0
                extra["long_rate"] = min(long * self._inv_rate, 1.0)
            if "global_rate" in self.extra_job:
                g, region = sim.arrival_rates.rates(sim.time_s)
                extra["global_rate"] = min(g * self._inv_rate, 1.0)
                r = int(sim.site_region[job.site])
                extra["region_rate"] = min(float(region[r] * self._inv_region_rate[r]), 1.0)
            f += [extra[name] for name in self.extra_job]
        return np.array(f, dtype=np.float32)
