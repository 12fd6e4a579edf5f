"""agents.provenance: the id a model was trained on, from the config.yml beside it, and the one-line notice."""

from __future__ import annotations

from pathlib import Path

from agents.provenance import trained_env_id, trained_on_notice

ROOT = Path(__file__).resolve().parents[2]


def test_notice_names_both_ids(tmp_path):
    model = tmp_path / "maskable_ppo.zip"
    model.write_bytes(b"")
    assert trained_env_id(model) is None and trained_on_notice(model, "OrbitCloud-v2") is None  # no config: silent
    (tmp_path / "config.yml").write_text("algo: maskable_ppo\nenv_id: OrbitCloud-v2\n")
    assert trained_env_id(model) == "OrbitCloud-v2"
    assert trained_on_notice(model, "orbitcloud_env:OrbitCloud-v2") is None
    notice = trained_on_notice(model, "OrbitCloud-Kuiper-v2")
    assert notice.startswith("notice:") and "trained on OrbitCloud-v2" in notice and "OrbitCloud-Kuiper-v2" in notice
    assert "\n" not in notice
    (tmp_path / "maskable_ppo_config.yml").write_text("env_id: OrbitCloud-Small-v2\n")  # <stem>_config.yml first
    assert trained_env_id(model) == "OrbitCloud-Small-v2"


def test_unreadable_config_is_ignored(tmp_path):
    model = tmp_path / "m.zip"
    (tmp_path / "config.yml").write_text("env_id: [unclosed\n")
    assert trained_env_id(model) is None
    (tmp_path / "config.yml").write_text("- a list\n")
    assert trained_env_id(model) is None


def test_shipped_model_names_its_id():
    assert trained_env_id(ROOT / "models" / "OrbitCloud-v1" / "maskable_ppo.zip") == "OrbitCloud-v1"
