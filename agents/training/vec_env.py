"""Stable-Baselines3's ``VecEnv`` over the batched OrbitCloud vector env (N copies in one process, no IPC).

:class:`OrbitCloudVecEnv` behaves as ``DummyVecEnv`` over N ``gym.make(id)`` envs (same seeds, observations, rewards,
dones and infos, with SB3's ``terminal_observation`` and ``TimeLimit.truncated``), with two differences: the copies
share topology snapshots where the scenario allows (:mod:`orbitcloud_env.vector`), and ``action_masks()`` /
``env_method("action_masks")`` read one batched ``(N, n_actions)`` array (MaskablePPO asks for it every step).
Episode statistics are SB3 ``Monitor``'s (``info["episode"]`` with the return summed in float64 and rounded as
``Monitor`` does, the length and the time since construction), so training logs read as with ``make_vec_env``.

:class:`OrbitCloudSubprocVecEnv` splits the copies over processes (one per core: this one and workers), each holding
an :class:`OrbitCloudVecEnv` of its share: one round trip per step and worker (the next masks travel with the step's
results), the same episodes as one :class:`OrbitCloudVecEnv` of all the copies. See docs/scaling.md.
"""

from __future__ import annotations

import importlib
import multiprocessing as mp
import signal
import time
import traceback
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray
from stable_baselines3.common.vec_env import VecEnv

from orbitcloud_env.vector import OrbitCloudVectorEnv

__all__ = ["OrbitCloudSubprocVecEnv", "OrbitCloudVecEnv", "make_batched_vec_env", "supports_batched"]


class OrbitCloudVecEnv(VecEnv):
    """SB3 ``VecEnv`` of an :class:`~orbitcloud_env.vector.OrbitCloudVectorEnv` (built from an id or given).

    Args:
        venv: the batched vector env (its autoreset mode is not used: this class resets SB3's way, in the step).
    """

    def __init__(self, venv: OrbitCloudVectorEnv) -> None:
        if not isinstance(venv, OrbitCloudVectorEnv):
            raise ValueError(f"venv: expected an OrbitCloudVectorEnv, got {type(venv).__name__}")
        self.venv = venv
        self.envs = venv.envs
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self.render_mode = venv.render_mode
        self.metadata = dict(venv.envs[0].metadata)
        self._rews = np.zeros(self.num_envs, dtype=np.float32)
        self._dones = np.zeros(self.num_envs, dtype=bool)
        self._actions: NDArray[np.int64] | None = None
        # Monitor's episode statistics, per copy.
        self._t_start = time.time()
        self._ep_return = [0.0] * self.num_envs
        self._ep_len = [0] * self.num_envs

    @classmethod
    def from_id(cls, env_id: str, n_envs: int, env_kwargs: Mapping[str, Any] | None = None) -> OrbitCloudVecEnv:
        """``n_envs`` copies of registered ``env_id`` (``module:id`` accepted) with the spec's and ``env_kwargs``."""
        spec = _spec(env_id)
        kwargs = {**spec.kwargs, **dict(env_kwargs or {})}
        return cls(OrbitCloudVectorEnv(num_envs=n_envs, **kwargs))

    def reset(self) -> dict[str, NDArray[np.float32]]:
        for i, env in enumerate(self.envs):
            maybe_options = {"options": self._options[i]} if self._options[i] else {}
            obs, self.reset_infos[i] = env.reset(seed=self._seeds[i], **maybe_options)
            self.venv.put(i, obs)
            self._ep_return[i], self._ep_len[i] = 0.0, 0
        self._reset_seeds()
        self._reset_options()
        return self.venv.observations()

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = actions

    def step_wait(self):
        infos: list[dict[str, Any]] = []
        for i, env in enumerate(self.envs):
            obs, reward, terminated, truncated, info = env.step(self._actions[i])
            self._rews[i] = reward
            self._ep_return[i] += reward
            self._ep_len[i] += 1
            self._dones[i] = terminated or truncated
            if self._dones[i]:  # as Monitor, then DummyVecEnv
                info["episode"] = {"r": round(self._ep_return[i], 6), "l": self._ep_len[i],
                                   "t": round(time.time() - self._t_start, 6)}
                self._ep_return[i], self._ep_len[i] = 0.0, 0
            info["TimeLimit.truncated"] = truncated and not terminated
            if self._dones[i]:
                info["terminal_observation"] = obs
                obs, self.reset_infos[i] = env.reset()
            self.venv.put(i, obs)
            infos.append(info)
        # No deepcopy (DummyVecEnv copies its reused info buffers): each step's info dicts are new.
        return self.venv.observations(), self._rews.copy(), self._dones.copy(), infos

    def action_masks(self) -> NDArray[np.bool_]:
        """(N, n_actions) valid actions of each copy's current job."""
        return self.venv.action_masks()

    def close(self) -> None:
        self.venv.close()

    def get_images(self) -> Sequence[np.ndarray | None]:
        return [env.render() for env in self.envs]

    def _targets(self, indices: Any) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return [getattr(self.envs[i], attr_name) for i in self._targets(indices)]

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        for i in self._targets(indices):
            setattr(self.envs[i], attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: Any = None, **method_kwargs) -> list[Any]:
        if method_name == "action_masks" and not method_args and not method_kwargs:
            masks = self.venv.action_masks()
            return [masks[i] for i in self._targets(indices)]
        return [getattr(self.envs[i], method_name)(*method_args, **method_kwargs) for i in self._targets(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False for _ in self._targets(indices)]  # the copies are bare envs


class _WorkerError(RuntimeError):
    """An exception raised in a worker process of :class:`OrbitCloudSubprocVecEnv` (its traceback as the text)."""


def _worker(remote: Any, parent_remote: Any, env_id: str, n_envs: int, env_kwargs: dict[str, Any]) -> None:
    """Worker process of :class:`OrbitCloudSubprocVecEnv`: an :class:`OrbitCloudVecEnv` of ``n_envs`` copies serving
    (command, data) requests until "close" or the pipe closes. Every answer is ("ok", value) or ("error", (exception,
    traceback text))."""
    # The parent decides what an interrupt means (train.py saves the model, then closes the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent_remote.close()
    venv: OrbitCloudVecEnv | None = None
    cmd, data = "init", None
    while True:
        try:
            if cmd == "init":  # (the parent reads the spaces from its own share)
                venv = OrbitCloudVecEnv.from_id(env_id, n_envs, env_kwargs)
                out: Any = None
            elif cmd == "step":
                out = _step_share(venv, data)
            elif cmd == "reset":
                out = _reset_share(venv, *data)
            elif cmd in ("env_method", "get_attr", "set_attr"):
                out = _attribute_call(venv, cmd, data[0], data[1:])
            elif cmd == "render":
                out = venv.get_images()
            elif cmd == "close":
                venv.close()
                remote.send(("ok", None))
                break
            else:
                raise ValueError(f"unknown command {cmd!r}")
            remote.send(("ok", out))
        except Exception as exc:  # noqa: BLE001 (sent to the parent, which raises it)
            text = traceback.format_exc()
            try:
                remote.send(("error", (exc, text)))
            except Exception:  # noqa: BLE001 (an exception that does not pickle travels as its text)
                remote.send(("error", (_WorkerError(str(exc)), text)))
            if venv is None:  # the envs could not be built: nothing to serve
                break
        try:
            cmd, data = remote.recv()
        except (EOFError, KeyboardInterrupt):
            break
    remote.close()


class OrbitCloudSubprocVecEnv(VecEnv):
    """SB3 ``VecEnv`` of ``n_envs`` copies of ``env_id`` stepped by ``n_procs`` processes, one per core: this one
    and ``n_procs - 1`` workers, each stepping its share of the copies as an :class:`OrbitCloudVecEnv` (the
    batched env).

    The episodes are those of ``OrbitCloudVecEnv.from_id(env_id, n_envs)`` (and so of ``DummyVecEnv`` over
    ``n_envs`` single envs): copy i gets the seed ``seed + i``, whichever process holds it; what the processes do
    not share (topology snapshots, route limits) sets only the work, never a result. A step sends each worker its
    actions, steps this process's share meanwhile, then reads each worker's observations, rewards, dones, infos and
    next action masks in one message, so ``action_masks()`` (asked by MaskablePPO every step) reads the kept masks
    without a second trip (SB3's ``SubprocVecEnv`` of single envs makes two, and holds one env per process while
    the learner's process waits). Workers ignore SIGINT: an interrupt reaches this process alone, which may save
    its work and then :meth:`close` them.

    Args:
        env_id: registered id (``module:id`` accepted) whose ``vector_entry_point`` is the batched env.
        n_envs: [-] copies, >= 1.
        env_kwargs: the env's keyword arguments (must pickle), as for :meth:`OrbitCloudVecEnv.from_id`.
        n_procs: [-] processes stepping copies, this one included, 2 <= n_procs <= n_envs; the copies are split as
            evenly as possible, in order: this process holds copies 0 .. n_envs // n_procs - 1 (or one more),
            worker 1 the next share, and so on.
        start_method: multiprocessing start method; default "forkserver" where available (as SB3), else "spawn".
            "fork" is unsafe once torch has started threads.
    """

    def __init__(self, env_id: str, n_envs: int, env_kwargs: Mapping[str, Any] | None = None, n_procs: int = 2,
                 start_method: str | None = None) -> None:
        _check_split(n_envs, n_procs)
        methods = mp.get_all_start_methods()
        if start_method is None:
            start_method = "forkserver" if "forkserver" in methods else "spawn"
        if start_method not in methods:
            raise ValueError(f"start_method: must be one of {', '.join(methods)}, got {start_method!r}")
        n_envs, n_procs = int(n_envs), int(n_procs)
        sizes = [n_envs // n_procs + (k < n_envs % n_procs) for k in range(n_procs)]
        #: [first, end) copies of each process (0: this one).
        self._spans = [(sum(sizes[:k]), sum(sizes[: k + 1])) for k in range(n_procs)]
        self._owner = np.repeat(np.arange(n_procs), sizes)
        self._workers = list(range(1, n_procs))
        self._remotes: dict[int, Any] = {}
        self._procs: dict[int, Any] = {}
        self._pending: set[int] = set()
        self._failed: str | None = None
        self._local: OrbitCloudVecEnv | None = None
        self.closed = False
        ctx = mp.get_context(start_method)
        kwargs = dict(env_kwargs or {})
        try:
            for k in self._workers:
                remote, work_remote = ctx.Pipe()
                proc = ctx.Process(target=_worker, args=(work_remote, remote, env_id, sizes[k], kwargs), daemon=True)
                proc.start()
                work_remote.close()
                self._remotes[k], self._procs[k] = remote, proc
                self._pending.add(k)
            self._local = OrbitCloudVecEnv.from_id(env_id, sizes[0], kwargs)  # built while the workers start
            self._gather(self._workers)
        except BaseException:
            self.close()
            raise
        local = self._local
        super().__init__(n_envs, local.observation_space, local.action_space)
        self.render_mode, self.metadata = local.render_mode, local.metadata
        self._masks: NDArray[np.bool_] | None = None
        self._keys = list(local.observation_space.spaces)
        self._local_actions: NDArray[Any] | None = None

    # -- the round trips ---------------------------------------------------------------------------------------------

    def _send(self, k: int, cmd: str, data: Any = None) -> None:
        self._check_usable()
        self._remotes[k].send((cmd, data))
        self._pending.add(k)

    def _check_usable(self) -> None:
        if self._failed is not None:
            raise RuntimeError(f"OrbitCloudSubprocVecEnv: a step failed earlier ({self._failed}); the copies are out "
                               "of step with each other: close() this VecEnv and make a new one")
        if self.closed:
            raise RuntimeError("OrbitCloudSubprocVecEnv: closed")

    def _gather(self, workers: Any, stepping: bool = False) -> list[Any]:
        """The answers of ``workers`` in order; a worker's exception is raised here (after every answer is read).
        ``stepping``: the command was a step or a reset, so an error leaves the copies out of step: the VecEnv then
        refuses to go on (an error of an attribute call, e.g. a missing attribute, does not)."""
        answers, error, died = [], None, False
        for k in workers:
            try:
                status, value = self._remotes[k].recv()
            except EOFError:
                died = True
                self._procs[k].join(5)
                status, value = "error", (RuntimeError(f"worker {k} died (exit code {self._procs[k].exitcode}; its "
                                                       "stderr above may say why)"), "")
            self._pending.discard(k)
            if status == "error" and error is None:
                error = (k, *value)
            answers.append(value)
        if error is not None:
            k, exc, text = error
            first, end = self._spans[k]
            if stepping or died:
                self._failed = f"worker {k}, copies {first}..{end - 1}: {type(exc).__name__}: {exc}"
            raise exc from _WorkerError(f"in worker {k} (copies {first}..{end - 1}):\n{text}")
        return answers

    def _local_then_workers(self, local_call: Any, workers: list[int], stepping: bool) -> tuple[Any, list[Any]]:
        """Run ``local_call`` on this process's copies while ``workers`` work on what was sent them, then read their
        answers (read even when ``local_call`` raises, so that no answer is left in a pipe)."""
        try:
            mine = local_call()
        except BaseException as exc:
            if stepping:
                self._failed = f"this process, copies 0..{self._spans[0][1] - 1}: {type(exc).__name__}: {exc}"
            try:
                self._gather(workers, stepping)
            except Exception:  # noqa: BLE001 (the local error is the one to report)
                pass
            raise
        return mine, self._gather(workers, stepping)

    def _join_obs(self, parts: list[dict[str, NDArray[np.float32]]]) -> dict[str, NDArray[np.float32]]:
        return {key: np.concatenate([part[key] for part in parts]) for key in self._keys}

    def _per_copy(self, cmd: str, indices: Any, *data: Any) -> list[Any]:
        """``cmd`` (an attribute call) on the copies ``indices``: one answer per copy, in the order of ``indices``."""
        self._check_usable()
        targets = list(self._get_indices(indices))
        local: dict[int, list[int]] = {}
        for i in targets:
            k = int(self._owner[i])
            local.setdefault(k, []).append(i - self._spans[k][0])
        workers = [k for k in local if k != 0]
        for k in workers:
            self._send(k, cmd, (local[k], *data))
        mine, theirs = self._local_then_workers(
            lambda: _attribute_call(self._local, cmd, local.get(0, []), data), workers, stepping=False)
        answers = {k: iter(a) for k, a in zip(workers, theirs)}
        answers[0] = iter(mine)
        return [next(answers[int(self._owner[i])]) for i in targets]

    # -- VecEnv ------------------------------------------------------------------------------------------------------

    def reset(self) -> dict[str, NDArray[np.float32]]:
        for k in self._workers:
            a, b = self._spans[k]
            self._send(k, "reset", (self._seeds[a:b], self._options[a:b]))
        end = self._spans[0][1]
        mine, answers = self._local_then_workers(
            lambda: _reset_share(self._local, self._seeds[:end], self._options[:end]), self._workers, stepping=True)
        parts = [mine] + answers
        self.reset_infos = [info for _, infos, _ in parts for info in infos]
        self._masks = np.concatenate([masks for _, _, masks in parts])
        self._reset_seeds()
        self._reset_options()
        return self._join_obs([obs for obs, _, _ in parts])

    def step_async(self, actions: np.ndarray) -> None:
        self._check_usable()
        actions = np.asarray(actions)
        if actions.shape[:1] != (self.num_envs,):
            raise ValueError(f"actions: expected one action per copy, shape ({self.num_envs},), got {actions.shape}")
        for k in self._workers:
            a, b = self._spans[k]
            self._send(k, "step", actions[a:b])
        self._local_actions = actions[: self._spans[0][1]]

    def step_wait(self):
        mine, answers = self._local_then_workers(lambda: _step_share(self._local, self._local_actions), self._workers,
                                                 stepping=True)
        parts = [mine] + answers
        self._masks = np.concatenate([p[4] for p in parts])
        return (self._join_obs([p[0] for p in parts]), np.concatenate([p[1] for p in parts]),
                np.concatenate([p[2] for p in parts]), [info for p in parts for info in p[3]])

    def action_masks(self) -> NDArray[np.bool_]:
        """(N, n_actions) valid actions of each copy's current job (kept from the last reset or step)."""
        if self._masks is None:
            raise RuntimeError("action_masks() needs reset() first")
        return self._masks.copy()

    def env_method(self, method_name: str, *method_args, indices: Any = None, **method_kwargs) -> list[Any]:
        if method_name == "action_masks" and not method_args and not method_kwargs:
            masks = self.action_masks()
            return [masks[i] for i in self._get_indices(indices)]
        return self._per_copy("env_method", indices, method_name, method_args, method_kwargs)

    def get_attr(self, attr_name: str, indices: Any = None) -> list[Any]:
        return self._per_copy("get_attr", indices, attr_name)

    def set_attr(self, attr_name: str, value: Any, indices: Any = None) -> None:
        self._per_copy("set_attr", indices, attr_name, value)

    def has_attr(self, attr_name: str) -> bool:
        return attr_name == "action_masks" or self._local.has_attr(attr_name)  # the copies are alike

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: Any = None) -> list[bool]:
        return [False for _ in self._get_indices(indices)]  # the copies are bare envs

    def get_images(self) -> Sequence[np.ndarray | None]:
        for k in self._workers:
            self._send(k, "render")
        mine, theirs = self._local_then_workers(self._local.get_images, self._workers, stepping=False)
        return [*mine, *(image for images in theirs for image in images)]

    def close(self) -> None:
        """Stop the workers (answers still in flight, e.g. after an interrupt, are read first; a worker that does not
        stop within 10 s is terminated) and close this process's copies."""
        if self.closed:
            return
        self.closed = True
        for k in list(self._pending):  # a step interrupted in this process: the workers' answers are still coming
            if self._remotes[k].poll(10):
                try:
                    self._remotes[k].recv()
                except EOFError:
                    pass
        for remote in self._remotes.values():
            try:
                remote.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for proc in self._procs.values():
            proc.join(10)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for remote in self._remotes.values():
            remote.close()
        if self._local is not None:
            self._local.close()


def _step_share(venv: OrbitCloudVecEnv, actions: NDArray[Any]) -> tuple[Any, ...]:
    """Step one process's share of the copies: (observations, rewards, dones, infos, next action masks)."""
    venv.step_async(actions)
    return (*venv.step_wait(), venv.action_masks())


def _reset_share(venv: OrbitCloudVecEnv, seeds: Sequence[int | None],
                 options: Sequence[dict[str, Any]]) -> tuple[Any, ...]:
    """Reset one process's share of the copies with its slice of the VecEnv's seeds and options: (observations,
    reset infos, action masks)."""
    venv._seeds, venv._options = list(seeds), list(options)
    return venv.reset(), list(venv.reset_infos), venv.action_masks()


def _check_split(n_envs: Any, n_procs: Any) -> None:
    """ValueError naming the field unless 1 <= n_envs and 2 <= n_procs <= n_envs (integers)."""
    for name, value, low, high in (("n_envs", n_envs, 1, None), ("n_procs", n_procs, 2, n_envs)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low or (
                high is not None and value > high):
            allowed = (f"an integer in [2, {high}] (processes stepping copies, this one included; each holds at least "
                       "one copy; 1: use OrbitCloudVecEnv)" if high is not None else f"an integer >= {low}")
            raise ValueError(f"{name}: must be {allowed}, got {value!r}")


def _attribute_call(venv: OrbitCloudVecEnv, cmd: str, local: list[int], data: tuple[Any, ...]) -> list[Any]:
    """An attribute command of :class:`OrbitCloudSubprocVecEnv` ("env_method", "get_attr", "set_attr") on copies
    ``local`` of ``venv``: one answer per copy (a worker runs the same, :func:`_worker`)."""
    if not local:
        return []
    if cmd == "env_method":
        name, args, kwargs = data
        return venv.env_method(name, *args, indices=local, **kwargs)
    if cmd == "get_attr":
        return venv.get_attr(data[0], indices=local)
    venv.set_attr(data[0], data[1], indices=local)
    return [None] * len(local)


def _spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The spec of ``env_id``; a ``module:id`` form imports the module first (as ``gym.make`` does)."""
    if ":" in env_id:
        module, env_id = env_id.split(":", 1)
        importlib.import_module(module)
    return gym.spec(env_id)


def supports_batched(env_id: str) -> bool:
    """Whether ``env_id`` (``module:id`` accepted) names the batched vector env as its ``vector_entry_point``."""
    try:
        spec = _spec(env_id)
    except (gym.error.Error, ImportError):
        return False
    entry = spec.vector_entry_point
    return entry is OrbitCloudVectorEnv or entry == "orbitcloud_env.vector:OrbitCloudVectorEnv"


def make_batched_vec_env(env_id: str, n_envs: int, seed: int | None = None,
                         env_kwargs: Mapping[str, Any] | None = None, n_procs: int = 1,
                         start_method: str | None = None) -> OrbitCloudVecEnv | OrbitCloudSubprocVecEnv:
    """SB3's ``make_vec_env(env_id, n_envs, seed, env_kwargs, vec_env_cls=DummyVecEnv)`` done with the batched env:
    same episodes (copy i seeded ``seed + i`` at the first reset) and episode statistics. ``n_procs`` > 1 splits the
    copies over that many processes, this one included (:class:`OrbitCloudSubprocVecEnv`, ``start_method``), same
    episodes."""
    if n_procs == 1:
        venv: OrbitCloudVecEnv | OrbitCloudSubprocVecEnv = OrbitCloudVecEnv.from_id(env_id, n_envs, env_kwargs)
    else:
        venv = OrbitCloudSubprocVecEnv(env_id, n_envs, env_kwargs, n_procs=n_procs, start_method=start_method)
    venv.seed(seed)
    if seed is not None:
        venv.action_space.seed(seed)
    return venv
