"""Gymnasium's rule, kept by a test: an existing id's episodes never change. tests/data/episode_digests.json holds the
digest of short episodes (benchmarks/episode_digests.py's ``STORED_*`` settings: 150 decisions, seed 0, a
masked-random and an earliest-finish policy) of every registered id; each is recomputed here."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import episode_digests as D

STORED = Path(__file__).resolve().parents[1] / "data" / "episode_digests.json"
WRITE = "python benchmarks/episode_digests.py --write tests/data/episode_digests.json"


def _stored() -> dict:
    return json.loads(STORED.read_text(encoding="utf-8"))


def test_the_stored_digests_use_the_script_settings():
    assert _stored()["settings"] == D.stored_settings(), (
        f"the digest settings in benchmarks/episode_digests.py changed: rewrite every digest with `{WRITE}` "
        f"(on the commit before any behaviour change)")


def _check_unchanged(env_id: str, expected: dict[str, str]) -> None:
    if env_id not in D.registered_ids():
        pytest.fail(f"{env_id} has a stored digest but is not registered any more: a released id stays registered")
    got = D.stored_digests(env_id)
    changed = sorted(k for k in expected if got.get(k) != expected[k])
    assert not changed, (
        f"{env_id}: the episodes changed ({', '.join(changed)} of seed/policy differ from "
        f"tests/data/episode_digests.json). A change to an existing id's dynamics, reward, observation or info is "
        f"forbidden: bump the id's version (register it as a new -vN, keep the old one as it was) and store the new "
        f"id's digests with `{WRITE} --ids <new id>`.")


@pytest.mark.parametrize("env_id", sorted(_stored()["digests"]))
def test_episodes_of_a_stored_id_are_unchanged(env_id):
    _check_unchanged(env_id, _stored()["digests"][env_id])


def test_a_changed_episode_fails_asking_for_a_version_bump(monkeypatch):
    stored = _stored()["digests"]["OrbitCloud-Small-v1"]
    monkeypatch.setattr(D, "stored_digests", lambda env_id: {**stored, "0/random": "0" * 64})
    with pytest.raises(AssertionError, match=r"OrbitCloud-Small-v1: the episodes changed \(0/random .*bump the id's "
                                             r"version"):
        _check_unchanged("OrbitCloud-Small-v1", stored)


def test_every_registered_id_has_a_stored_digest():
    missing = sorted(set(D.registered_ids()) - set(_stored()["digests"]))
    assert not missing, (
        f"no stored episode digest for {', '.join(missing)}: store them with `{WRITE} --ids {' '.join(missing)}` "
        f"and commit tests/data/episode_digests.json")


def test_the_digest_ignores_an_action_mask_info_key_and_sees_a_changed_reward(monkeypatch):
    import orbitcloud_env.env as E

    base = D.episode_digest("OrbitCloud-Small-v1", 0, "random", 5)
    step = E.OrbitCloudEnv.step

    def with_mask(self, action):
        obs, reward, terminated, truncated, info = step(self, action)
        return obs, reward, terminated, truncated, {**info, "action_mask": self.action_masks()}

    monkeypatch.setattr(E.OrbitCloudEnv, "step", with_mask)
    assert D.episode_digest("OrbitCloud-Small-v1", 0, "random", 5) == base

    def other_reward(self, action):
        obs, reward, terminated, truncated, info = step(self, action)
        return obs, reward + 1e-12, terminated, truncated, info

    monkeypatch.setattr(E.OrbitCloudEnv, "step", other_reward)
    assert D.episode_digest("OrbitCloud-Small-v1", 0, "random", 5) != base
