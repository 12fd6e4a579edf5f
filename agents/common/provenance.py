"""Where a saved model comes from: the env id it was trained on, read from the ``config.yml`` train.py writes.

A run folder (``logs/<algo>/<env>_<N>/``) and a shipped model folder (``models/<id>/``) hold ``config.yml`` beside
the model, with ``env_id``; a model saved elsewhere has none, and nothing is said. The file is read with
``yaml.safe_load`` (no code runs); an unreadable one is ignored here (this is a notice, not a check).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["trained_env_id", "trained_on_notice"]


def trained_env_id(model_path: str | Path) -> str | None:
    """The ``env_id`` of the ``config.yml`` beside ``model_path`` (``<stem>_config.yml`` first), or None."""
    import yaml

    path = Path(model_path)
    for config in (path.with_name(f"{path.stem}_config.yml"), path.with_name("config.yml")):
        if not config.is_file():
            continue
        try:
            data = yaml.safe_load(config.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            return None
        env_id = data.get("env_id") if isinstance(data, dict) else None
        return str(env_id).split(":")[-1] if env_id else None
    return None


def trained_on_notice(model_path: str | Path, env_id: str) -> str | None:
    """A one-line notice when the model was trained on another id than ``env_id`` (None when the same or unknown)."""
    trained = trained_env_id(model_path)
    evaluated = str(env_id).split(":")[-1]
    if trained is None or trained == evaluated:
        return None
    return f"notice: {model_path} was trained on {trained}; evaluated here on {evaluated}"
