"""The Gymnasium facade over :class:`~orbitcloud_env.simulator.Simulator`: spaces, observations, reward, masks."""

from __future__ import annotations

import difflib
import math
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from orbitcloud_env.config import ScenarioConfig, load_config
from orbitcloud_env.simulator import POSITION_SCALE_KM, NodeView, Outcome, Simulator

__all__ = ["OrbitCloudEnv", "ACTION_TYPES", "AllNodesAction", "CandidatesAction", "NodeObservation",
           "action_type_names"]

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


# ----------------------------------------------------------------------------------------------------------------
# Action types: which global node each observation row is, the action space, the mask.


class ActionType:
    """Maps actions to nodes. ``rows`` are the global node indices shown in the observation (-1: padding)."""

    name = "base"

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.rows: NDArray[np.int64] = np.zeros(0, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        raise NotImplementedError

    def space(self) -> spaces.Discrete:
        """``Discrete(n_rows + 1)``; the last action rejects the job."""
        return spaces.Discrete(self.n_rows + 1)

    def select_rows(self, view: NodeView) -> tuple[NDArray[np.int64] | None, NodeView]:
        """The global node of each row (None: all nodes in order), and the view they were chosen on (a
        candidates list may need a complete view of the nodes)."""
        raise NotImplementedError

    def mask(self, view: NodeView) -> NDArray[np.bool_]:
        """Valid actions: rows whose node is valid, and reject (always)."""
        m = np.zeros(self.n_rows + 1, dtype=bool)
        real = self.rows >= 0
        m[:-1][real] = view.valid[self.rows[real]]
        m[-1] = True
        return m

    def to_node(self, action: int) -> int | None:
        """The global node of ``action`` (None for reject or a padding row)."""
        if action == self.n_rows:
            return None
        node = int(self.rows[action])
        return None if node < 0 else node


class AllNodesAction(ActionType):
    """One action per node (satellites, then data centres), plus reject."""

    name = "all_nodes"

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.rows = np.arange(sim.n_nodes, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        return self.sim.n_nodes

    def select_rows(self, view: NodeView) -> tuple[None, NodeView]:
        return None, view  # every node, in global order

    def mask(self, view: NodeView) -> NDArray[np.bool_]:
        m = np.empty(self.n_rows + 1, dtype=bool)
        m[:-1] = view.valid
        m[-1] = True
        return m


class CandidatesAction(ActionType):
    """One action per listed candidate (the K valid nodes of lowest estimated latency), plus reject.

    Rows are sorted by estimated network latency; the best valid data centre is always listed when one is valid,
    so ground placement stays possible at any constellation size. Rows past the valid ones are padding.
    """

    name = "candidates"

    def __init__(self, sim: Simulator) -> None:
        super().__init__(sim)
        self.k = sim.config.episode.candidates_k
        self.rows = np.full(self.k, -1, dtype=np.int64)

    @property
    def n_rows(self) -> int:
        return self.k

    def select_rows(self, view: NodeView) -> tuple[NDArray[np.int64], NodeView]:
        sim, k, n_sat = self.sim, self.k, self.sim.n_sat
        # Satellites: the first k valid ones of the site's 4k nearest by base latency (cached per topology
        # bucket; the transfer time added per job is the same for every satellite, so the order holds), or of
        # all satellites when fewer than k of those are valid. Data centres: every valid one. Then the k best.
        pool = sim.satellite_order(sim.job.site)
        sats = pool[np.flatnonzero(view.valid[pool])[:k]]
        if sats.shape[0] < k and pool.shape[0] < n_sat:  # too few valid near the site: search every satellite
            if not view.complete:
                view = sim.node_view(complete=True)
            key = np.where(view.valid[:n_sat], view.latency_ms[:n_sat], np.inf)
            part = np.argpartition(key, k - 1)[:k]
            sats = part[np.isfinite(key[part])]
        dcs = n_sat + np.flatnonzero(view.valid[n_sat:])
        idx = np.concatenate([sats, dcs])
        lat = view.latency_ms[idx]
        keep = np.argsort(lat, kind="stable")[:k]
        idx = idx[keep]
        if dcs.size and not (idx >= n_sat).any():  # always offer the best data centre
            best_dc = dcs[int(np.argmin(view.latency_ms[dcs]))]
            idx = np.append(idx[: k - 1], best_dc)
            idx = idx[np.argsort(view.latency_ms[idx], kind="stable")]
        rows = np.full(k, -1, dtype=np.int64)
        rows[: idx.shape[0]] = idx
        self.rows = rows
        return rows, view


#: Action types by name (``episode.action_mode``).
ACTION_TYPES: dict[str, type[ActionType]] = {"all_nodes": AllNodesAction, "candidates": CandidatesAction}


def action_type_names() -> list[str]:
    """Names accepted by ``episode.action_mode``."""
    return list(ACTION_TYPES)


def _make_action_type(name: str, sim: Simulator) -> ActionType:
    try:
        return ACTION_TYPES[name](sim)
    except KeyError:
        close = difflib.get_close_matches(name, ACTION_TYPES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"episode.action_mode: unknown action mode {name!r}{hint} (valid: "
                         f"{', '.join(ACTION_TYPES)})") from None


# ----------------------------------------------------------------------------------------------------------------
# Observation type: per-row node features + job features, normalised where they are declared.


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
        self._space = spaces.Dict({
            **{key: spaces.Box(-1.0, 1.0, (m,), f32) for key in POSITION_KEYS},
            **unit,
            **{key: spaces.Box(0.0, c, (m,), f32) for key in TIME_NODE_KEYS},
            "job": spaces.Box(-1.0, 1.0, (N_JOB_BASE_FEATURES + self.n_classes,), f32),
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
        self._one_hot = [[1.0 if i == c else 0.0 for i in range(self.n_classes)] for c in range(self.n_classes)]

    def space(self) -> spaces.Dict:
        return self._space

    def observe(self, view: NodeView, rows: NDArray[np.int64] | None) -> dict[str, NDArray[np.float32]]:
        """The observation for the current job; ``rows`` are global nodes (-1 padding), None for all nodes.

        Rows that change with the topology bucket live in a persistent (F, M) float32 matrix (the battery row is
        rewritten every step, since each placement draws energy); the per-job rows are computed only for the
        listed nodes.
        """
        sim, clip = self.sim, self.time_clip
        if self._topology_version != sim.topology_version:
            self._refresh_bucket_rows()
        self._matrix[_ROW["node_soc"], : sim.n_sat] = sim.batteries.soc
        if rows is None:
            out = self._matrix.copy()
            idx = slice(None)
        else:
            idx = np.maximum(rows, 0)
            out = self._matrix[:, idx]
        inv_deadline = 1.0 / sim.job.deadline_ms
        out[_ROW["node_direct"]] = view.direct[idx]
        out[_ROW["node_queue"]] = sim.compute.held[idx] * self._inv_queue_limit[idx]
        out[_ROW["node_valid"]] = view.valid[idx]
        for key, value in (("node_wait", view.wait_ms), ("node_latency", view.latency_ms),
                           ("node_compute", view.compute_ms)):
            row = out[_ROW[key]]
            np.multiply(value[idx], inv_deadline, out=row, casting="same_kind")
            np.minimum(row, clip, out=row)
        if rows is not None and rows[-1] < 0:  # padding rows (they end the list) are all zeros
            out[:, rows < 0] = 0.0
        obs = dict(zip(NODE_KEYS, out))
        obs["job"] = self._job_features()
        return obs

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

    def _job_features(self) -> NDArray[np.float32]:
        sim = self.sim
        job = sim.job
        lat_deg, lon_deg = self._site_lat_lon[job.site]
        lon = math.radians(lon_deg)
        utc_hour = ((sim.epoch_second_of_day_utc + sim.time_s) / 3600.0) % 24.0
        local_hour = (utc_hour + lon_deg / 15.0) % 24.0
        f = [
            min(math.log10(1.0 + job.work_gflop) / 6.0, 1.0),
            min(math.log10(1.0 + job.input_mb) / 4.0, 1.0),
            min(math.log10(1.0 + job.output_mb) / 4.0, 1.0),
            min(max(math.log10(max(job.deadline_ms, 1e-9)) / 7.0, -1.0), 1.0),
            lat_deg / 90.0,
            math.sin(lon),
            math.cos(lon),
            min(local_hour / 24.0, 1.0),
        ] + self._one_hot[job.job_class]
        return np.array(f, dtype=np.float32)



# ----------------------------------------------------------------------------------------------------------------
# The environment.


class OrbitCloudEnv(gym.Env):
    """Place jobs arriving from the world's cities on an orbital compute cloud or on terrestrial data centres.

    ## Description
    A LEO constellation (Walker shells propagated with SGP4, or a TLE file) carries compute on its satellites,
    meshed by laser inter-satellite links (+Grid) and reached from users' cities over ground-satellite links.
    Terrestrial cloud regions are reached over fibre. Jobs (interactive inference, video analytics, batch) arrive
    from population-weighted cities following local time of day; each step the agent places the arriving job on a
    node or rejects it. Satellites are solar powered and their batteries drain in eclipse; a satellite below the
    battery threshold refuses work. The simulator is event-driven: after each decision the clock jumps to the next
    arrival; the topology (positions, links, routes, sunlight) refreshes every ``episode.topology_dt_s`` seconds.

    ## Action Space
    ``Discrete(M + 1)``. In ``all_nodes`` mode, M = satellites + data centres and action i places the job on global
    node i (satellites first); in ``candidates`` mode, M = ``candidates_k`` and action i places it on the i-th
    listed candidate (the valid nodes of lowest estimated latency; the best data centre is always listed).
    Action M rejects the job. :meth:`action_masks` gives the valid actions; a masked-out action is a rejection with
    an extra penalty (``info["invalid_action"]``). An action outside the space raises ``ValueError``.

    ## Observation Space
    A ``Dict`` of float32 arrays, one row per node (M rows), never NaN or infinite:

    | key | shape | meaning | range |
    |---|---|---|---|
    | node_x, node_y, node_z | (M,) | Earth-fixed position / 8,378.137 km | [-1, 1] |
    | node_sunlit | (M,) | 1 when the node is in sunlight | {0, 1} |
    | node_soc | (M,) | battery state of charge | [0, 1] |
    | node_sunlit_soon | (M,) | 1 when sunlit ``power.eclipse_lookahead_s`` from now | {0, 1} |
    | node_isl_up | (M,) | share of the node's 4 +Grid ISLs that are up | [0, 1] |
    | node_direct | (M,) | 1 when reachable without ISL hops (visible from the job's site, or ground) | {0, 1} |
    | node_queue | (M,) | queue occupancy: jobs held / queue limit | [0, 1] |
    | node_is_ground | (M,) | 1 for a data centre | {0, 1} |
    | node_valid | (M,) | 1 when placing there is allowed (same as the action mask) | {0, 1} |
    | node_wait | (M,) | queue wait / job deadline | [0, clip] |
    | node_latency | (M,) | estimated network latency (up, route, transfer, return) / deadline | [0, clip] |
    | node_compute | (M,) | compute time of the job on the node / deadline | [0, clip] |
    | job | (8 + C,) | log work, log input, log output, log deadline, site lat, sin/cos site lon, local hour, class one-hot | [-1, 1] |

    Every entry is 1-D (SB3's ``MultiInputPolicy`` takes it as is). Estimated finish time in deadlines:
    ``node_latency + node_wait + node_compute``.
    clip = ``episode.time_clip`` (10). Ground nodes report sunlit 1, soc 1, sunlit_soon 1 and no ISLs. Padding rows are zeros.

    ## Rewards
    Named terms (``info["rewards"]``), weights from ``config.reward``:
    ``r = -w_lat min(latency / deadline, clip_lat) - w_miss [missed] - w_drop [dropped] - w_rej [rejected]
    - w_inv [invalid action] - w_energy energy_j / energy_scale_j``.
    Latency is the job's full latency (up, route, transfer, queue, compute, return on the topology at finish time),
    known at placement because queues are FIFO (over a node's parallel servers) with known work.

    ## Starting State
    The clock starts at the constellation epoch plus U(0, ``episode.start_time_spread_s``). Batteries start from
    U(``power.initial_soc_min``, ``power.initial_soc_max``) drawn ``power.warmup_orbits`` orbits earlier and then
    integrated over that span with each satellite's real sunlight history and a per-satellite compute utilisation
    (U(0, 2 x ``power.warmup_utilisation``)), so the starting charge follows eclipse phase and load. Queues are
    empty; ISL failures (if enabled) start from all links up at the epoch.

    ## Episode End
    Never terminated (no absorbing state). Truncated after ``episode.max_jobs`` decisions, when simulated time
    since reset reaches ``episode.max_time_s`` (if > 0), or when a replayed trace runs out. The last step's info
    has ``episode_metrics``.

    ## Arguments
    | argument | meaning |
    |---|---|
    | preset | "small", "starlink" (default), "kuiper", "mega", or a YAML path |
    | config | a ScenarioConfig, a nested mapping of overrides, or a YAML path |
    | render_mode | None or "rgb_array" (a world map) |
    | **overrides | dotted or unique short config fields, e.g. ``action_mode="all_nodes"``, ``max_jobs=200`` |

    ## Registered Configurations
    ``OrbitCloud-v0`` (starlink, candidates), ``OrbitCloud-Small-v0`` (small, all_nodes),
    ``OrbitCloud-Kuiper-v0`` (kuiper, candidates), ``OrbitCloud-Mega-v0`` (mega, candidates).

    ## Version History
    * v0: initial release.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(self, preset: str | Path | None = "starlink", config: ScenarioConfig | Mapping[str, Any] | str |
                 Path | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: must be None or one of {self.metadata['render_modes']}, got "
                             f"{render_mode!r}")
        self.render_mode = render_mode
        self.config = self._resolve_config(preset, config, overrides)
        self.sim = Simulator(self.config)
        self._action = _make_action_type(self.config.episode.action_mode, self.sim)
        self._observation = NodeObservation(self.sim, self._action.n_rows)
        self.action_space = self._action.space()
        self.observation_space = self._observation.space()
        self._view: NodeView | None = None
        self._mask: NDArray[np.bool_] | None = None
        self._last_obs: dict[str, NDArray[np.float32]] | None = None
        self._steps = 0

    @staticmethod
    def _resolve_config(preset: Any, config: Any, overrides: Mapping[str, Any]) -> ScenarioConfig:
        if isinstance(config, ScenarioConfig):
            return config.replace(overrides) if overrides else config
        if isinstance(config, (str, Path)):
            return load_config(config, overrides)
        merged: dict[str, Any] = {}
        if config is not None:
            if not isinstance(config, Mapping):
                raise ValueError(f"config: expected a ScenarioConfig, a mapping or a YAML path, got "
                                 f"{type(config).__name__}")
            merged.update(config)
        merged.update(overrides)
        return load_config(preset, merged)

    # ------------------------------------------------------------------------------------------------------------

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        self.sim.reset(self.np_random)
        self._steps = 0
        obs = self._observe()
        return obs, {"time_s": 0.0, "job_id": self.sim.job.job_id}

    def _observe(self) -> dict[str, NDArray[np.float32]]:
        rows, view = self._action.select_rows(self.sim.node_view())
        self._view = view
        self._mask = self._action.mask(view)
        obs = self._observation.observe(view, rows)
        self._last_obs = obs
        return obs

    def action_masks(self) -> NDArray[np.bool_]:
        """Valid actions for the current job (sb3-contrib MaskablePPO protocol); reject is always valid."""
        if self._mask is None:
            raise RuntimeError("action_masks() needs reset() first")
        return self._mask.copy()

    def _action_index(self, action: Any) -> int:
        n = int(self.action_space.n)
        a = action
        if isinstance(a, np.ndarray):
            if a.size != 1:
                raise ValueError(f"action: expected one integer in [0, {n - 1}] ({n - 1} = reject), got an array "
                                 f"of shape {a.shape}")
            a = a.reshape(()).item() if a.dtype.kind in "iu" else a.reshape(()).item()
            if isinstance(a, float):
                raise ValueError(f"action: expected an integer in [0, {n - 1}], got float {a!r}")
        if isinstance(a, (bool, np.bool_)) or not isinstance(a, (int, np.integer)):
            raise ValueError(f"action: expected an integer in [0, {n - 1}] ({n - 1} = reject), got "
                             f"{type(action).__name__} {action!r}")
        a = int(a)
        if not 0 <= a < n:
            raise ValueError(f"action: {a} is outside the action space Discrete({n}); allowed: 0..{n - 1} "
                             f"({n - 1} = reject)")
        return a

    def step(self, action: Any):
        if self._view is None or self.sim.job is None:
            raise RuntimeError("step() needs reset() first (or the episode ended: call reset())")
        a = self._action_index(action)
        invalid = not bool(self._mask[a])
        node = None if invalid else self._action.to_node(a)
        job = self.sim.job
        candidates = self._action.rows.copy()
        out = self.sim.place(node, self._view)
        self._steps += 1
        terms = self._rewards(out, invalid)
        reward = float(sum(terms.values()))
        self.sim.stats.episode_return += reward
        ep = self.config.episode
        truncated = (self._steps >= ep.max_jobs or self.sim.exhausted
                     or (ep.max_time_s > 0 and self.sim.elapsed_s >= ep.max_time_s))
        info = self._info(out, job, invalid, terms)
        if self.config.episode.action_mode == "candidates":
            info["candidate_nodes"] = candidates
        if self.sim.exhausted:
            obs = {k: v.copy() for k, v in self._last_obs.items()}
            self._view = None
        else:
            obs = self._observe()
        if truncated:
            info["episode_metrics"] = self.sim.stats.metrics()
        return obs, reward, False, bool(truncated), info

    def _rewards(self, out: Outcome, invalid: bool) -> dict[str, float]:
        """The named reward terms of one decision (weights from ``config.reward``)."""
        w = self.config.reward
        served = out.outcome in ("met", "missed")
        return {
            "latency": -w.latency_weight * min(out.latency_ms / out.job.deadline_ms, w.latency_clip) if served
            else 0.0,
            "miss": -w.miss_penalty if out.outcome == "missed" else 0.0,
            "drop": -w.drop_penalty if out.outcome == "dropped" else 0.0,
            "rejection": -w.reject_penalty if out.outcome == "rejected" else 0.0,
            "invalid_action": -w.invalid_action_penalty if invalid else 0.0,
            "energy": -w.energy_weight * out.energy_j / w.energy_scale_j,
        }

    def _info(self, out: Outcome, job: Any, invalid: bool, terms: dict[str, float]) -> dict[str, Any]:
        sim = self.sim
        return {
            "job_id": job.job_id,
            "job_class": sim.job_class_names[job.job_class],
            "site": int(job.site),
            "site_name": sim.sites.names[job.site],
            "site_lat_deg": float(sim.sites.lat_deg[job.site]),
            "site_lon_deg": float(sim.sites.lon_deg[job.site]),
            "node": int(out.node),
            "is_ground": bool(out.node >= sim.n_sat),
            "outcome": out.outcome,
            "met_deadline": out.outcome == "met",
            "latency_ms": float(out.latency_ms),
            "deadline_ms": float(job.deadline_ms),
            "latency_breakdown_ms": {k: float(v) for k, v in out.breakdown_ms.items()},
            "energy_j": float(out.energy_j),
            "invalid_action": invalid,
            "rewards": terms,
            "time_s": float(job.time_s - sim.start_time_s),
        }

    # ------------------------------------------------------------------------------------------------------------

    def network_graph(self):
        """The current topology snapshot as a ``networkx.Graph`` (satellites are int nodes 0..N-1; edges carry
        ``distance_km``, ``delay_ms``, ``capacity_gbps``)."""
        if self._view is None and self.sim.job is None:
            raise RuntimeError("network_graph() needs reset() first")
        return self.sim.network_graph()

    def render(self):
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='rgb_array' to gymnasium.make")
            return None
        from orbitcloud_env.render import render_rgb

        return render_rgb(self.sim)
