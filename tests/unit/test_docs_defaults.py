"""docs/gen_defaults.py: the docs' tables of config defaults are what the config dataclasses give now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _gen():
    spec = importlib.util.spec_from_file_location("gen_defaults", DOCS / "gen_defaults.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_default_tables_match_the_config():
    assert _gen().stale_blocks() == [], "run: python docs/gen_defaults.py"


def test_a_changed_default_shows_as_a_stale_block(tmp_path, monkeypatch):
    gen = _gen()
    for rel in gen.BLOCKS:
        (tmp_path / rel).write_text((DOCS / rel).read_text(encoding="utf-8"), encoding="utf-8")
    text = (tmp_path / "workload.md").read_text(encoding="utf-8")
    (tmp_path / "workload.md").write_text(text.replace("| 8,000 |", "| 1,000 |", 1), encoding="utf-8")
    assert gen.stale_blocks(tmp_path) == ["workload.md: job_classes"]
    assert gen.write_all(tmp_path) == ["workload.md"]
    assert gen.stale_blocks(tmp_path) == []
    assert (tmp_path / "workload.md").read_text(encoding="utf-8") == text


def test_field_docs_reads_the_args_entries():
    from orbitcloud_env.config import JobClassConfig, PowerConfig

    docs = _gen().field_docs(JobClassConfig)
    assert docs["work_gflop"] == "[GFLOP] median compute work" and docs["work_sigma"] == "[-] its log-normal sigma."
    power = _gen().field_docs(PowerConfig)
    assert power["initial_soc_min"] == power["initial_soc_max"]  # "a, b: text"
    assert power["warmup_orbits"].startswith("[orbits] at reset") and "directly." in power["warmup_orbits"]


def test_missing_markers_are_a_clear_error():
    with pytest.raises(ValueError, match="no '<!-- generated: x"):
        _gen().render("no markers here", {"x": lambda: "table"}, "some.md")


def test_readme_and_evaluation_doc_name_every_heuristic():
    from agents.heuristics import HEURISTICS

    readme = (DOCS.parent / "README.md").read_text(encoding="utf-8")
    evaluation = (DOCS / "evaluation.md").read_text(encoding="utf-8")
    for name in HEURISTICS:
        assert f"`{name}`" in readme and f" {name}," in evaluation.replace(f" {name};", f" {name},"), name
    assert len(HEURISTICS) == 10 and "ten heuristics" in readme
