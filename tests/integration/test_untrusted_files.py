"""Model files from elsewhere (agents/safeload.py): loading one never runs code from it unless the user trusts it.

Each crafted file carries a payload that writes a marker file when unpickled; every entry point (``agents.make_policy``,
``evaluate.py --policies x=FILE``, ``train.py -i FILE``) must refuse it with one line naming how to trust it, and
the marker must not appear. The shipped models load safely and act as with SB3's own loading.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import zipfile
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import agents
import orbitcloud_env  # noqa: F401 - registers the ids
from agents import evaluate_cli, train_cli
from agents.safeload import UntrustedFileError, load_vecnormalize, restricted_loads

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "models" / "OrbitCloud-v1").glob("*.zip"))
MODEL_ENV_ID = "OrbitCloud-Small-v0"  # the env of conftest's saved_models


class _Payload:
    """Unpickles to ``exec(code)``: writes ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return exec, (f"open({self.marker!r}, 'w').write('pwned')",)


def _rewrite_zip(src: Path, dst: Path, replace: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            zout.writestr(name, replace.get(name, zin.read(name)))
    return dst


def _poison_field(src: Path, dst: Path, field: str, marker: Path) -> Path:
    data = json.loads(zipfile.ZipFile(src).read("data"))
    payload = base64.b64encode(pickle.dumps(_Payload(marker))).decode()
    data[field] = {":type:": "<class 'type'>", ":serialized:": payload}
    return _rewrite_zip(src, dst, {"data": json.dumps(data).encode()})


def _poison_weights(src: Path, dst: Path, marker: Path) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save({"weight": _Payload(marker)}, buf)
    return _rewrite_zip(src, dst, {"policy.pth": buf.getvalue()})


@pytest.fixture
def marker(tmp_path) -> Path:
    return tmp_path / "PAYLOAD_RAN"


@pytest.fixture(scope="module")
def small_env():
    env = gym.make(MODEL_ENV_ID, max_jobs=20)
    yield env
    env.close()


def test_restricted_unpickler_refuses_globals_off_the_list(marker):
    with pytest.raises(Exception, match="builtins.exec"):
        restricted_loads(pickle.dumps(_Payload(marker)))
    assert not marker.exists()
    arrays = {"a": np.arange(3.0), "b": np.float32(2.5)}
    assert restricted_loads(pickle.dumps(arrays))["a"].tolist() == [0.0, 1.0, 2.0]


@pytest.mark.parametrize("field", ["policy_class", "lr_schedule", "observation_space"])
def test_make_policy_refuses_a_payload_in_data(saved_models, tmp_path, marker, small_env, field):
    bad = _poison_field(saved_models["ppo"], tmp_path / "bad.zip", field, marker)
    with pytest.raises(UntrustedFileError) as info:
        agents.make_policy(bad, env=small_env)
    message = str(info.value)
    assert "\n" not in message and field in message and "builtins.exec" in message and "trust=True" in message
    assert not marker.exists()


def test_trust_restores_sb3_loading(saved_models, tmp_path, marker):
    """trust=True is SB3's own load: the payload runs (why it is opt-in)."""
    bad = _poison_field(saved_models["ppo"], tmp_path / "bad.zip", "_last_obs", marker)
    agents.make_policy(bad, trust=True)
    assert marker.exists()


def test_a_payload_in_a_disposable_field_is_dropped_not_run(saved_models, tmp_path, marker, small_env):
    bad = _poison_field(saved_models["ppo"], tmp_path / "bad.zip", "_last_obs", marker)
    policy = agents.make_policy(bad, env=small_env)
    assert policy.algo == "ppo" and policy.model._last_obs is None
    obs, _ = small_env.reset(seed=0)
    policy.predict(obs)
    assert not marker.exists()


def test_make_policy_refuses_a_payload_in_the_weights(saved_models, tmp_path, marker):
    bad = _poison_weights(saved_models["ppo"], tmp_path / "bad.zip", marker)
    with pytest.raises(UntrustedFileError, match=r"policy\.pth.*trust=True"):
        agents.make_policy(bad)
    assert not marker.exists()


def test_make_policy_refuses_a_payload_in_vecnormalize(saved_models, tmp_path, marker):
    model = tmp_path / "run" / "best_model.zip"
    model.parent.mkdir()
    model.write_bytes(saved_models["ppo"].read_bytes())
    (model.parent / "vecnormalize.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(UntrustedFileError, match=r"vecnormalize\.pkl.*builtins\.exec.*trust=True"):
        agents.make_policy(model)
    assert not marker.exists()


def test_vecnormalize_statistics_load_safely(tmp_path, small_env):
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    venv = DummyVecEnv([lambda: gym.make(MODEL_ENV_ID, max_jobs=20)])
    norm = VecNormalize(venv)
    norm.reset()
    norm.step(np.array([0]))
    norm.save(str(tmp_path / "vecnormalize.pkl"))
    safe = load_vecnormalize(tmp_path / "vecnormalize.pkl")
    for key, rms in norm.obs_rms.items():
        np.testing.assert_array_equal(safe.obs_rms[key].mean, rms.mean)
        np.testing.assert_array_equal(safe.obs_rms[key].var, rms.var)
    venv.close()


@pytest.mark.parametrize("algo", ["ppo", "a2c", "dqn", "maskable_ppo"])
def test_every_algorithm_loads_safely_without_sb3_unpickling(saved_models, monkeypatch, algo, small_env):
    """Safe loading hands SB3 every serialized field decoded: SB3's cloudpickle.loads is never reached."""
    from stable_baselines3.common import save_util

    def refuse(*args, **kwargs):
        raise AssertionError("SB3 unpickled a field")

    monkeypatch.setattr(save_util.cloudpickle, "loads", refuse)
    policy = agents.make_policy(saved_models[algo], env=gym.make(MODEL_ENV_ID, max_jobs=20))
    assert policy.algo == algo


@pytest.mark.parametrize("path", SHIPPED, ids=[p.name for p in SHIPPED])
def test_shipped_models_load_safely_and_act_the_same(path):
    env = gym.make("OrbitCloud-v1")
    safe = agents.make_policy(path, env=env)
    trusted = agents.make_policy(path, env=env, trust=True)
    assert safe.algo == trusted.algo == "maskable_ppo"
    obs, _ = env.reset(seed=11)
    for _ in range(40):
        a, _ = safe.predict(obs)
        b, _ = trusted.predict(obs)
        assert int(a) == int(b)
        obs, _, terminated, truncated, _ = env.step(int(a))
        if terminated or truncated:
            break
    env.close()


def test_evaluate_refuses_a_crafted_model(saved_models, tmp_path, marker, capsys):
    bad = _poison_field(saved_models["ppo"], tmp_path / "bad.zip", "policy_class", marker)
    out = tmp_path / "results"
    rc = evaluate_cli.main(["--env", MODEL_ENV_ID, "--env-kwargs", "max_jobs:20", "--policies", f"x={bad}",
                            "--episodes", "1", "--no-progress", "--no-plots", "--no-bound", "-o", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--trust-model" in err[0] and "policy_class" in err[0], err
    assert not marker.exists() and not out.exists()


def test_train_refuses_a_crafted_trained_agent(saved_models, tmp_path, marker, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bad = _poison_field(saved_models["ppo"], tmp_path / "bad.zip", "policy_class", marker)
    rc = train_cli.main(["--env", MODEL_ENV_ID, "-n", "64", "--seed", "0", "-i", str(bad),
                         "--env-kwargs", "max_jobs:20"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--trust-model" in err[0], err
    assert not marker.exists() and not (tmp_path / "logs").exists()


def test_train_refuses_crafted_statistics_beside_the_trained_agent(saved_models, tmp_path, marker, capsys,
                                                                    monkeypatch):
    monkeypatch.chdir(tmp_path)
    model = tmp_path / "run" / "model.zip"
    model.parent.mkdir()
    model.write_bytes(saved_models["ppo"].read_bytes())
    (model.parent / "vecnormalize.pkl").write_bytes(pickle.dumps(_Payload(marker)))
    rc = train_cli.main(["--env", MODEL_ENV_ID, "-n", "64", "--seed", "0", "-i", str(model),
                         "--env-kwargs", "max_jobs:20", "--hyperparams", "normalize:True"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and "--trust-model" in err[0] and "vecnormalize" in err[0], err
    assert not marker.exists() and not (tmp_path / "logs").exists()
