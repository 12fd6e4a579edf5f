#!/usr/bin/env python
"""Write the docs' tables of config defaults from the config dataclasses, so that they cannot drift from the code.

Each generated table sits in a Markdown file between two marker comments::

    <!-- generated: NAME (python docs/gen_defaults.py; do not edit by hand) -->
    ...
    <!-- end generated: NAME -->

``python docs/gen_defaults.py`` rewrites every block (each file written to a temporary file, then renamed);
``python docs/gen_defaults.py --check`` changes nothing and exits 1, naming each stale block, when a file differs
from what the code gives (tests/unit/test_docs_defaults.py runs the check). Values: the dataclass defaults (the v1
scenarios'); the presets that differ (``orbitcloud_env/presets/*.yaml``, the v0 ones through ``legacy-v0``) are
named per field. Meanings: the ``Args:`` entries of each dataclass's docstring ("[unit] meaning").
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import inspect
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout without installing

from orbitcloud_env.config import PRESETS, ScenarioConfig, load_config  # noqa: E402

DOCS = Path(__file__).resolve().parent
BEGIN = "<!-- generated: {name} (python docs/gen_defaults.py; do not edit by hand) -->"
END = "<!-- end generated: {name} -->"
#: [min] eclipse length of the budget sentence: about the longest of a 550 km orbit (cylindrical shadow, zero beta
#: angle: 2 asin(R_E / r) / 360 deg of a 95.6 min orbit = 35.6 min).
ECLIPSE_MIN = 36.0


# ----------------------------------------------------------------------------------------------------------------
# Reading the dataclasses.


def field_docs(cls: type) -> dict[str, str]:
    """Field name -> its ``Args:`` text in ``cls``'s docstring (entries ``a: text``, ``a, b: text`` or several on
    one line separated by ``; b: text``; continuation lines joined)."""
    doc = inspect.getdoc(cls) or ""
    if "Args:" not in doc:
        return {}
    names = {f.name for f in dataclasses.fields(cls)}
    entries: list[str] = []
    for line in doc.split("Args:", 1)[1].splitlines():
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip())
        if indent <= 4 and entries and not re.match(r"\s*[A-Za-z_][\w, ]*:", line):
            break  # a new section after Args
        if indent <= 4:
            entries.append(line.strip())
        elif entries:
            entries[-1] += " " + line.strip()
    out: dict[str, str] = {}
    for entry in entries:
        # "a: text; b: text" -> two entries when b is a field
        parts = re.split(r";\s+(?=(?:" + "|".join(map(re.escape, sorted(names))) + r"): )", entry) if names else [entry]
        for part in parts:
            head, _, text = part.partition(": ")
            for name in (n.strip() for n in head.split(",")):
                if name in names:
                    out[name] = text.strip()
    return out


def fmt(value: Any) -> str:
    """A config value as the docs write it: 1,500 / 0.95 / true / (0.5, 1, 1.6) / "cylindrical" / none."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "none"
    if isinstance(value, float):
        return f"{int(value):,}" if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, tuple):
        if value and dataclasses.is_dataclass(value[0]):
            return f"{len(value)} entries"
        return "(" + ", ".join(fmt(v) for v in value) + ")"
    return str(value)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


@functools.lru_cache(maxsize=None)
def _preset(name: str) -> ScenarioConfig:
    return load_config(name)


def _get(config: ScenarioConfig, dotted: str) -> Any:
    value: Any = config
    for part in dotted.split("."):
        value = getattr(value, part)
    return value


def preset_differences(dotted: str) -> str:
    """The presets whose value of ``dotted`` differs from the dataclass default, grouped by value."""
    default = _get(ScenarioConfig(), dotted)
    groups: dict[str, list[str]] = {}
    for preset in PRESETS:
        value = _get(_preset(preset), dotted)
        if value != default:
            groups.setdefault(fmt(value), []).append(preset)
    return "; ".join(f"{', '.join(names)}: {value}" for value, names in groups.items())


# ----------------------------------------------------------------------------------------------------------------
# The tables.


def field_table(section: str, fields: Sequence[str] | None = None, extra: Sequence[str] = ()) -> str:
    """| field | default (v1) | presets that differ | meaning | for ``section``'s fields (all, or ``fields``), then
    the dotted fields of other sections in ``extra``."""
    rows = ["| config field | default (v1) | presets that differ | meaning |", "|---|---|---|---|"]
    base = ScenarioConfig()
    dotted = [f"{section}.{f.name}" for f in dataclasses.fields(getattr(base, section))
              if fields is None or f.name in fields] + list(extra)
    for name in dotted:
        sec, _, field_name = name.rpartition(".")
        meaning = field_docs(type(_get(base, sec))).get(field_name, "")
        value = _get(base, name)
        if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[0]):
            continue  # nested entries (job classes, shells) have tables of their own
        rows.append(f"| `{name}` | {_cell(fmt(value))} | {_cell(preset_differences(name)) or '-'} | "
                    f"{_cell(meaning)} |")
    return "\n".join(rows)


def job_class_table() -> str:
    """The job classes of the v1 default and of the v0 presets, side by side."""
    rows = ["| scenarios | class | weight | work_gflop (median, sigma) | input_mb | output_mb (size sigma) | "
            "deadline_ms |", "|---|---|---|---|---|---|---|"]
    seen: dict[tuple, list[str]] = {}
    for preset in PRESETS:
        seen.setdefault(_preset(preset).workload.job_classes, []).append(preset)
    default = ScenarioConfig().workload.job_classes
    for classes, presets in sorted(seen.items(), key=lambda kv: kv[0] != default):
        label = "v1 (default): " if classes == default else ""
        label += ", ".join(presets)
        for c in classes:
            rows.append(f"| {label} | {c.name} | {fmt(c.weight)} | {fmt(c.work_gflop)}, {fmt(c.work_sigma)} | "
                        f"{fmt(c.input_mb)} | {fmt(c.output_mb)} ({fmt(c.size_sigma)}) | {fmt(c.deadline_ms)} |")
            label = ""
    return "\n".join(rows)


def eclipse_budget() -> str:
    """What an eclipse costs the battery with the v1 default and the v0 values."""
    lines = []
    for label, cfg in (("v1 default", ScenarioConfig()), ("v0 presets", _preset("starlink-v0"))):
        p, c = cfg.power, cfg.compute
        idle_wh = p.base_load_w * ECLIPSE_MIN / 60.0
        busy_wh = (p.base_load_w + c.satellite_power_w) * ECLIPSE_MIN / 60.0
        cap = p.battery_capacity_wh
        charge_idle = p.charge_efficiency * max(p.panel_power_w - p.base_load_w, 0.0)
        charge_busy = p.charge_efficiency * max(p.panel_power_w - p.base_load_w - c.satellite_power_w, 0.0)
        lines.append(
            f"- {label} ({fmt(p.battery_capacity_wh)} Wh battery, {fmt(p.base_load_w)} W base load, "
            f"{fmt(c.satellite_power_w)} W compute, {fmt(p.panel_power_w)} W panel): a {fmt(ECLIPSE_MIN)} min "
            f"eclipse at base load alone costs {idle_wh:,.0f} Wh ({idle_wh / cap:.0%} of the battery); at base load "
            f"plus full compute {busy_wh:,.0f} Wh ({busy_wh / cap:.0%}"
            f"{', more than the battery holds' if busy_wh > cap else ''}). Sunlit, an idle satellite recharges at "
            f"{charge_idle:,.0f} W, a busy one at {charge_busy:,.0f} W.")
    return "\n".join(lines)


def all_sections() -> str:
    """Every section's table (docs/config_defaults.md)."""
    out = []
    base = ScenarioConfig()
    for f in dataclasses.fields(base):
        if not dataclasses.is_dataclass(getattr(base, f.name)):
            continue
        cls = type(getattr(base, f.name))
        summary = (inspect.getdoc(cls) or "").split("\n", 1)[0]
        out.append(f"### `{f.name}` ({cls.__name__})\n\n{summary}\n\n{field_table(f.name)}")
    return "\n\n".join(out)


#: File (relative to docs/) -> block name -> what writes it.
BLOCKS: dict[str, dict[str, Callable[[], str]]] = {
    "workload.md": {
        "workload": lambda: field_table("workload"),
        "job_classes": job_class_table,
    },
    "physics_ground_power.md": {
        "power": lambda: field_table("power", extra=("compute.satellite_power_w",)),
        "eclipse_budget": eclipse_budget,
    },
    "config_defaults.md": {"all_sections": all_sections},
}


# ----------------------------------------------------------------------------------------------------------------
# Writing.


def render(text: str, blocks: dict[str, Callable[[], str]], path: str = "") -> str:
    """``text`` with each named block's content replaced; ValueError when a block's markers are missing."""
    for name, make in blocks.items():
        begin, end = BEGIN.format(name=name), END.format(name=name)
        i, j = text.find(begin), text.find(end)
        if i < 0 or j < i:
            raise ValueError(f"{path}: no '{begin}' ... '{end}' markers for block {name!r}")
        text = text[: i + len(begin)] + "\n" + make().rstrip("\n") + "\n" + text[j:]
    return text


def stale_blocks(docs: Path = DOCS) -> list[str]:
    """``file: block`` for every generated block whose text differs from what the code gives now."""
    stale = []
    for rel, blocks in BLOCKS.items():
        text = (docs / rel).read_text(encoding="utf-8")
        for name, make in blocks.items():
            if render(text, {name: make}, rel) != text:
                stale.append(f"{rel}: {name}")
    return stale


def write_all(docs: Path = DOCS) -> list[str]:
    """Rewrite every file whose blocks changed (temporary file, then rename); the files written."""
    written = []
    for rel, blocks in BLOCKS.items():
        path = docs / rel
        text = path.read_text(encoding="utf-8")
        new = render(text, blocks, rel)
        if new != text:
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(new)
            os.replace(tmp, path)
            written.append(rel)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 naming each stale block")
    args = p.parse_args(argv)
    if args.check:
        stale = stale_blocks()
        for s in stale:
            print(f"stale: {s} (run python docs/gen_defaults.py)", file=sys.stderr)
        return 1 if stale else 0
    for rel in write_all():
        print(f"wrote docs/{rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
