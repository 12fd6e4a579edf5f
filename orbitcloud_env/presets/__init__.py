"""Scenario presets shipped as YAML (see orbitcloud_env.config.PRESETS)."""
