"""``[plugins.qa]``: one table per check, each with a severity and its thresholds. Torch-free.

assetforge.toml::

    [plugins.qa.blank]         # a flat image: every channel's standard deviation below min_std
    severity = "fail"          # "fail" fails the asset, "warn" records it, "off" skips the check
    min_std = 2.0
    [plugins.qa.duplicate]     # perceptual hash within max_distance bits of another output
    max_distance = 4
    [plugins.qa.cutout]        # RGBA images: almost no opaque pixels, or an opaque border
    min_opaque = 0.01
    max_border_opaque = 0.5
    [plugins.qa.palette]       # more colours than a pixel-art palette allows
    max_colors = 16            # default: the asset's pixel_art.colors
    kinds = ["tile"]           # which kinds max_colors applies to (default: all)
    [plugins.qa.safety]        # an image classifier (transformers folder) or "model": the
    classifier = "models/nsfw" # model's own safety checker
    labels = ["nsfw"]
    threshold = 0.5

Every check is a warning unless its severity says ``fail``; safety runs only when a classifier
is configured (and then fails by default).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from assetforge.api import Problem, Project, did_you_mean

SEVERITIES = ("fail", "warn", "off")
# check -> option -> (types, default, check of the value or None)
OPTIONS: dict[str, dict[str, tuple[tuple[type, ...], Any]]] = {
    "blank": {"severity": ((str,), "warn"), "min_std": ((int, float), 2.0)},
    "duplicate": {"severity": ((str,), "warn"), "max_distance": ((int,), 4)},
    "cutout": {"severity": ((str,), "warn"), "min_opaque": ((int, float), 0.01),
               "max_border_opaque": ((int, float), 0.5)},
    "palette": {"severity": ((str,), "warn"), "max_colors": ((int,), 0),
                "kinds": ((list,), [])},
    "safety": {"severity": ((str,), "fail"), "classifier": ((str,), ""),
               "labels": ((list,), ["nsfw"]), "threshold": ((int, float), 0.5)},
}
FRACTIONS = ("min_opaque", "max_border_opaque", "threshold")


@dataclass(frozen=True)
class Settings:
    checks: dict[str, dict[str, Any]] = field(default_factory=dict)

    def severity(self, check: str) -> str:
        sev = self.checks[check]["severity"]
        if check == "safety" and not self.checks[check]["classifier"]:
            return "off"
        return sev

    def get(self, check: str, option: str) -> Any:
        return self.checks[check][option]


def problems(project: Project) -> list[Problem]:
    """Every mistake in ``[plugins.qa]``, located ``assetforge.toml:line``."""
    table = project.plugin_config("qa")
    out: list[Problem] = []
    for check, opts in table.items():
        where = project.where("plugins", "qa", check)
        if check not in OPTIONS:
            out.append(Problem(where, f"plugins.qa.{check}",
                               "unknown check" + did_you_mean(check, OPTIONS)
                               + f"; checks: {', '.join(OPTIONS)}"))
            continue
        if not isinstance(opts, dict):
            out.append(Problem(where, f"plugins.qa.{check}", "expected a table"))
            continue
        for key, value in opts.items():
            loc = project.where("plugins", "qa", check, key)
            name = f"plugins.qa.{check}.{key}"
            spec = OPTIONS[check].get(key)
            if spec is None:
                out.append(Problem(loc, name, "unknown option"
                                   + did_you_mean(key, OPTIONS[check])))
                continue
            msg = _check_value(key, value, spec[0])
            if msg:
                out.append(Problem(loc, name, msg))
    return out


def _check_value(key: str, value: Any, types: tuple[type, ...]) -> str | None:
    if isinstance(value, bool) or not isinstance(value, types):
        return f"expected {' or '.join(t.__name__ for t in types)}, got {type(value).__name__}"
    if key == "severity" and value not in SEVERITIES:
        return f"must be one of {', '.join(SEVERITIES)}, not {value!r}"
    if key in FRACTIONS and not 0 <= value <= 1:
        return "must be between 0 and 1"
    if key in ("min_std", "max_distance", "max_colors") and value < 0:
        return "must not be negative"
    if key == "max_distance" and value > 64:
        return "must be at most 64 (a perceptual hash has 64 bits)"
    if key in ("kinds", "labels") and not all(isinstance(v, str) for v in value):
        return "expected a list of strings"
    return None


def settings(project: Project) -> Settings:
    """Defaults overlaid with ``[plugins.qa]`` (validated by ``problems`` while planning)."""
    table = project.plugin_config("qa")
    checks = {}
    for check, opts in OPTIONS.items():
        given = table.get(check) if isinstance(table.get(check), dict) else {}
        checks[check] = {k: given.get(k, default) for k, (_t, default) in opts.items()}
    return Settings(checks)
