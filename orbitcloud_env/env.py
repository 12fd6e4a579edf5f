"""The Gymnasium facade over :class:`~orbitcloud_env.simulator.Simulator`: spaces, observations, reward, masks."""

from __future__ import annotations

import operator
from pathlib import Path
from typing import Any, Mapping

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from orbitcloud_env.actions import (
    ACTION_TYPES,
    ActionType,
    AllNodesAction,
    CandidatesAction,
    action_type_names,
    make_action_type,
)
from orbitcloud_env.config import ScenarioConfig, UnknownFieldError, load_config
from orbitcloud_env.metrics import JobOutcome, LatencyBreakdown
from orbitcloud_env.observation import NodeObservation
from orbitcloud_env.reward import reward_terms, total
from orbitcloud_env.simulator import NodeView, Outcome, Simulator

__all__ = ["OrbitCloudEnv", "ACTION_TYPES", "AllNodesAction", "CandidatesAction", "NodeObservation",
           "action_type_names"]




#: The values of a LatencyBreakdown in the order of LatencyBreakdown.KEYS (its ``as_dict``'s values).
_breakdown_values = operator.attrgetter("uplink_ms", "isl_ms", "transfer_ms", "queue_ms", "compute_ms", "return_ms",
                                        "total_ms")


def _flag(value: Any) -> NDArray[np.bool_]:
    """A yes/no info field as a 0-d bool array: it has a dtype (TorchRL's info reader needs one) and Gymnasium's
    vector envs stack it into a bool array (an ``np.bool_`` scalar, not an ``np.number``, would give an object
    array with ``None`` where a sub-env lacks the key)."""
    return np.array(bool(value))


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
    Action M rejects the job. The valid actions (``node_valid`` of the rows, then reject, always valid) are in
    ``info["action_mask"]`` (int8, at reset and every step: Gymnasium's convention, stacked by vector envs) and
    :meth:`action_masks` (bool, sb3-contrib's protocol); a masked-out action is a rejection with an extra penalty
    (``info["invalid_action"]``). An action outside the space raises ``ValueError``.

    ## Observation Space
    A ``Dict`` of float32 arrays, one row per node (M rows), never NaN or infinite:

    | key | shape | meaning | range |
    |---|---|---|---|
    | node_x, node_y, node_z | (M,) | Earth-fixed position / 8,378.137 km | [-1, 1] |
    | node_sunlit | (M,) | 1 when the node is in sunlight | {0, 1} |
    | node_soc | (M,) | battery state of charge | [0, 1] |
    | node_sunlit_soon | (M,) | 1 when sunlit ``power.eclipse_lookahead_s`` from now | {0, 1} |
    | node_isl_up | (M,) | share of the node's 4 laser terminals whose ISL is up (+Grid, and bridges if on) | [0, 1] |
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

    Optional groups (``observation.groups``; all in v1, none in v0) add ``node_backlog`` (queued work per server /
    60 s, [0, clip]), ``node_utilisation`` (a region's background load, [0, 1]), ``node_light_change`` (time to
    the next eclipse entry or exit / 3,600 s), ``node_view_left`` (time until the satellite leaves the site's view /
    600 s), ``node_finish`` (estimated finish in deadlines, [0, clip]) and ``node_rank`` (its rank among the valid
    rows, [0, 1]), and job features (recent global and regional arrival rates, episode progress); the v2 ids add
    the groups ``value`` (job feature: log10(1 + job value) / log10(101), [0, 1]) and ``trend`` (job features: the
    arrival rate's trend, (short - long) / (short + long) over 60 s and 600 s windows, [-1, 1], and the 600 s rate,
    [0, 1]): see docs/env_contract.md.

    ## Rewards
    Named terms (``info["rewards"]``), weights from ``config.reward`` (v1: latency weight 0.25, so deadlines
    dominate; the energy term counts satellite battery energy):
    ``r = -w_lat min(latency / deadline, clip_lat) - w_miss [missed] - w_drop [dropped or failed] - w_rej [rejected]
    - w_inv [invalid action] - w_energy energy_j / energy_scale_j``.
    Latency is the job's full latency (up, route, transfer, queue, compute, return on the topology at finish time),
    known at placement because queues are FIFO (over a node's parallel servers) with known work.

    v2 (``reward.objective`` "value"): each job is worth ``v = price_per_gflop(class) x work_gflop`` [value units];
    ``r = v [met] - sla v [missed, dropped or failed] - w_lat v min(latency / deadline, clip_lat) [served]`` plus
    the terms above (v2: w_miss = w_drop = w_rej = 0, w_lat = 0.1, sla = ``reward.sla_penalty_fraction`` 0.25), so a
    rejection forgoes the value (reward 0) and a late result forfeits it and pays the SLA credit; extra terms
    ``value`` and ``sla``. Prices (interactive > video > batch per GFLOP; a batch job is still worth ~17 interactive
    ones), sources and the reward scale (~3.4 value units offered per decision): docs/scenarios.md. The formula
    lives in orbitcloud_env/reward.py, shared with the upper bound (orbitcloud_env/bounds.py).

    ## Starting State
    The clock starts at the constellation epoch plus U(0, ``episode.start_time_spread_s``). Batteries start from
    U(``power.initial_soc_min``, ``power.initial_soc_max``) drawn ``power.warmup_orbits`` orbits earlier and then
    integrated over that span with each satellite's real sunlight history and a per-satellite compute utilisation
    (U(0, 2 x ``power.warmup_utilisation``)), so the starting charge follows eclipse phase and load. Queues are
    empty; ISL failures and the ``faults`` section's node and link faults (if enabled) start from their stationary
    distribution at the episode's first topology bucket (docs/faults.md).

    ## Episode End
    Never terminated (no absorbing state). Truncated after ``episode.max_jobs`` decisions, when simulated time
    since reset reaches ``episode.max_time_s`` (if > 0), or when a replayed trace runs out. The last step's info
    has ``episode_metrics``. Info numbers are numpy scalars and flags 0-d bool arrays (docs/env_contract.md).

    ## Arguments
    | argument | meaning |
    |---|---|
    | preset | "starlink" (default), "small", "kuiper", "mega", "giga", "starlink2026", their ``-v0`` light-load
      versions ("starlink-v0", ...), or a YAML path |
    | config | a ScenarioConfig, a nested mapping of overrides, or a YAML path |
    | render_mode | None, "rgb_array" (a world map) or "human" (that map in a matplotlib window, each step) |
    | **overrides | dotted or unique short config fields, e.g. ``action_mode="all_nodes"``, ``max_jobs=200`` |

    ## Registered Configurations
    ``OrbitCloud-v1`` (starlink, candidates), ``OrbitCloud-Small-v1`` (small, all_nodes), ``OrbitCloud-Kuiper-v1``,
    ``OrbitCloud-Mega-v1``, ``OrbitCloud-Giga-v1`` (20,716 satellites) and ``OrbitCloud-Starlink2026-v1`` (the
    shipped catalogue), candidates mode; ``OrbitCloud-Starlink2026-v2``, the catalogue with inter-shell bridge ISLs
    (``links.inter_shell_isls``, one connected mesh); ``OrbitCloud-v2``, ``OrbitCloud-Small-v2`` and
    ``OrbitCloud-Kuiper-v2``, the v1 scenarios under the value objective (presets ``*-v2``);
    ``OrbitCloud-Starlink2026-v3``, the catalogue with bridges under the value objective; and the v0 ids
    ``OrbitCloud-v0``, ``OrbitCloud-Small-v0``, ``OrbitCloud-Kuiper-v0``, ``OrbitCloud-Mega-v0`` on the ``*-v0``
    presets.

    ## Version History
    * v2 (``OrbitCloud-v2``, ``-Small-v2``, ``-Kuiper-v2``): the value objective (each job worth its class's
      price x its work; SLA credit for late results; rejection forgoes the value), a wider per-episode demand level
      (log-normal sigma 0.4 instead of 0.2), observation groups ``value`` and ``trend`` (3 more job features),
      per-class value metrics in ``episode_metrics`` and ``info["job_value"]``. Dynamics otherwise v1's; the v1 ids
      stay registered, bit-identical.
    * v1: congested, time-varying, orbit-scale scenarios (docs/scenarios.md): 600 s episodes of aggregated jobs,
      demand regimes and regional background load, scarce orbital compute, batteries that run low in eclipse and an
      energy mask, latency weight 0.25, observation groups, two data centres among the candidates.
    * v0: initial release (light load; kept registered, bit-identical, on the ``*-v0`` presets).
    * Starlink2026-v2: the v1 catalogue scenario with inter-shell bridge ISLs (``links.inter_shell_isls``); the
      spaces are v1's, the network differs (``OrbitCloud-Starlink2026-v1`` stays registered, bit-identical).
    * Starlink2026-v3: Starlink2026-v2 under the v2 value objective (spaces, reward and demand level as
      ``OrbitCloud-v2``'s; Starlink2026-v2 stays registered, bit-identical).
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 4}

    def __init__(self, preset: str | Path | None = "starlink", config: ScenarioConfig | Mapping[str, Any] | str |
                 Path | None = None, render_mode: str | None = None, **overrides: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: must be None or one of {self.metadata['render_modes']}, got "
                             f"{render_mode!r}")
        self.render_mode = render_mode
        self._window = None
        if render_mode == "human":  # a window needs an interactive matplotlib backend: say so now, in one line
            from orbitcloud_env.render import HumanWindow, check_human_display

            check_human_display()
            self._window = HumanWindow(self.metadata["render_fps"])
        try:
            self.config = self._resolve_config(preset, config, overrides)
        except UnknownFieldError as exc:
            if exc.field not in overrides:  # e.g. an unknown field inside a YAML file: not a keyword argument
                raise
            # Python's own wording for an unknown keyword, which wrappers probing optional keywords look for.
            raise UnknownFieldError(f"{type(self).__name__}.__init__() got an unexpected keyword argument "
                                    f"'{exc.field}' ({exc})", exc.field) from None
        self.sim = Simulator(self.config)
        self._action = make_action_type(self.config.episode.action_mode, self.sim)
        self._observation = NodeObservation(self.sim, self._action.n_rows)
        self.action_space = self._action.space()
        self.observation_space = self._observation.space()
        self._view: NodeView | None = None
        self._mask: NDArray[np.bool_] | None = None
        self._last_obs: dict[str, NDArray[np.float32]] | None = None
        self._steps = 0
        self._value_objective = self.config.reward.objective == "value"

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
        if self.render_mode == "human":
            self.render()
        return obs, {"time_s": np.float64(0.0), "job_id": np.int64(self.sim.job.job_id),
                     "action_mask": self._mask.astype(np.int8)}

    def _observe(self) -> dict[str, NDArray[np.float32]]:
        obs, self._view, self._mask = self._look(self._action)
        self._last_obs = obs
        return obs

    def _look(self, action: ActionType) -> tuple[dict[str, NDArray[np.float32]], NodeView, NDArray[np.bool_]]:
        """The observation of the current job with ``action``'s rows, the view it shows and the action mask."""
        sim = self.sim
        sim.observe_arrival()
        ep = self.config.episode
        self._observation.progress = max(self._steps / ep.max_jobs,
                                         sim.elapsed_s / ep.max_time_s if ep.max_time_s > 0 else 0.0)
        rows, view = action.select_rows(sim.node_view())
        return self._observation.observe(view, rows), view, action.mask(view)

    def action_masks(self) -> NDArray[np.bool_]:
        """Valid actions for the current job (sb3-contrib MaskablePPO protocol); reject is always valid."""
        if self._mask is None:
            raise RuntimeError("action_masks() needs reset() first")
        return self._mask.copy()

    def get_state(self) -> dict[str, Any]:
        """Everything :meth:`step` changes, for :meth:`set_state` (lookahead policies; not for pickling)."""
        return {"sim": self.sim.get_state(), "steps": self._steps, "view": self._view, "mask": self._mask,
                "last_obs": self._last_obs, "rows": self._action.rows.copy()}

    def set_state(self, state: dict[str, Any]) -> None:
        """Return to a state from :meth:`get_state` taken in this episode."""
        self.sim.set_state(state["sim"])
        self._steps, self._view, self._mask = state["steps"], state["view"], state["mask"]
        self._last_obs = state["last_obs"]
        self._action.rows = state["rows"].copy()

    def _action_index(self, action: Any) -> int:
        n = int(self.action_space.n)
        a = action
        if isinstance(a, np.ndarray):
            if a.size != 1:
                raise ValueError(f"action: expected one integer in [0, {n - 1}] ({n - 1} = reject), got an array "
                                 f"of shape {a.shape}")
            a = a.reshape(()).item()
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
        reward, info = self._decide(a, self._action, self._view, self._mask)
        self._steps += 1
        truncated = self._truncated()
        if self.sim.exhausted:
            obs = {k: v.copy() for k, v in self._last_obs.items()}
            self._view = None
        else:
            obs = self._observe()
        info["action_mask"] = self._mask.astype(np.int8)  # the next decision's mask (the last one's at the end)
        if truncated:
            info["episode_metrics"] = self.sim.stats.metrics()
        if self.render_mode == "human":
            self.render()
        return obs, reward, False, bool(truncated), info

    def _decide(self, a: int, action: ActionType, view: NodeView, mask: NDArray[np.bool_], recheck: bool = False
                ) -> tuple[float, dict[str, Any]]:
        """Place the current job by action index ``a`` (in the action space) of ``action``'s rows, shown on ``view``
        with ``mask``; return the reward and the step's info.

        ``recheck`` (the multi-agent env's later jobs of a step, decided on the step's earlier view): look at the
        nodes again first; a chosen node that is no longer valid rejects the job (``info["contended"]``).
        """
        sim = self.sim
        invalid = not bool(mask[a])
        node = None if invalid else action.to_node(a)
        job = sim.job
        candidates = action.rows.copy()
        contended = False
        if recheck:
            view = sim.node_view()
            if node is not None and not view.complete and view.inbound_at(node) == np.inf:
                view = sim.node_view(complete=True)
            contended = node is not None and not bool(view.valid[node])
            if contended:
                node = None
        out = sim.place(node, view)
        terms = self._rewards(out, invalid)
        reward = float(total(terms))
        sim.stats.episode_return += reward
        info = self._info(out, job, invalid, terms)
        if self.config.episode.action_mode == "candidates":
            info["candidate_nodes"] = candidates
        if sim.faults is not None:  # faults section on: why nodes are down (they are masked out)
            info["node_down_reason"] = sim.node_down_reason()
            info["replaced_from"] = np.int64(out.replaced_from)
        if recheck:
            info["contended"] = _flag(contended)
        if self._value_objective:
            info["job_value"] = np.float64(self.sim.job_value(job))
        return reward, info

    def _truncated(self) -> bool:
        """The episode's horizon is reached (after ``episode.max_jobs`` decisions, ``max_time_s`` or the trace)."""
        ep = self.config.episode
        return bool(self._steps >= ep.max_jobs or self.sim.exhausted
                    or (ep.max_time_s > 0 and self.sim.elapsed_s >= ep.max_time_s))

    def _rewards(self, out: Outcome, invalid: bool) -> dict[str, float]:
        """The named reward terms of one decision (orbitcloud_env/reward.py; weights from ``config.reward``)."""
        w = self.config.reward
        o = out.outcome
        return reward_terms(w, served=o.served, missed=o is JobOutcome.MISSED,
                            lost=o is JobOutcome.DROPPED or o is JobOutcome.FAILED, rejected=o is JobOutcome.REJECTED,
                            invalid=invalid, latency_ratio=out.latency_ms / out.job.deadline_ms,
                            energy_j=out.energy_j if w.energy_source == "all" else out.battery_j,
                            value=self.sim.job_value(out.job) if self._value_objective else 0.0)

    def _info(self, out: Outcome, job: Any, invalid: bool, terms: dict[str, float]) -> dict[str, Any]:
        """The step's info: numbers as numpy scalars (``np.float64``, ``np.int64``) and flags as 0-d bool arrays,
        so TorchRL's info reader and Gymnasium's vector envs read them with a dtype (docs/env_contract.md)."""
        sim = self.sim
        f64 = np.float64
        return {
            "job_id": np.int64(job.job_id),
            "job_class": sim.job_class_names[job.job_class],
            "site": np.int64(job.site),
            "site_name": sim.sites.names[job.site],
            "site_lat_deg": f64(sim.sites.lat_deg[job.site]),
            "site_lon_deg": f64(sim.sites.lon_deg[job.site]),
            "node": np.int64(out.node),
            "is_ground": _flag(out.node >= sim.n_sat),
            "outcome": out.outcome.value,
            "met_deadline": _flag(out.met_deadline),
            "latency_ms": f64(out.latency_ms),
            "deadline_ms": f64(job.deadline_ms),
            "latency_breakdown_ms": dict(zip(LatencyBreakdown.KEYS, map(f64, _breakdown_values(out.breakdown)))),
            "energy_j": f64(out.energy_j),
            "invalid_action": _flag(invalid),
            "rewards": dict(zip(terms, map(f64, terms.values()))),
            "time_s": f64(job.time_s - sim.start_time_s),
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

        frame = render_rgb(self.sim)
        if self.render_mode == "human":
            self._window.show(frame)
            return None
        return frame

    def close(self) -> None:
        if getattr(self, "_window", None) is not None:
            self._window.close()
        super().close()
