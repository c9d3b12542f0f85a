"""Animations of a character: ``animations.NAME = { poses = "…/*.png" | frames = N, … }``.

Each frame is a job of the character, like a view: its view name is ``NAME/K`` (graph node
``@ID:NAME/K``), its output ``ID_NAME_KK.png``. Frames share the character's prompt, seed,
size, styles and cutout. ``poses`` is a glob relative to the project: one control image per
frame (sorted by name), through ``control = { model = …, scale = … }``. ``motion`` names a
``[motion.NAME]`` table (a motion adapter): the generator then makes every frame in one call.
``fps`` and ``loop`` are timing for the exports (with ``motion``, ``loop`` also shapes the
frames). Torch-free; the pose glob is expanded once, when the specs are loaded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Location, Problem
from .interfaces import AssetSpec, Job

KEYS = ("poses", "frames", "fps", "loop", "suffix", "motion", "control")
LOOPS = ("loop", "pingpong", "once")
DEFAULT_FPS = 10.0
MAX_FRAMES = 100  # two-digit frame numbers in output names
_NAME = re.compile(r"[A-Za-z0-9_\-]+")
_GLOB = "*?["


@dataclass(frozen=True)
class Animation:
    """One checked animation of a character, its pose files expanded."""

    name: str
    count: int  # frames
    poses: tuple[str, ...]  # project-relative paths as found by the glob, sorted; () if none
    fps: float
    loop: str
    suffix: str
    motion: str | None
    control: dict[str, Any] | None  # {model, scale} for the poses
    pattern: str | None = None  # the ``poses`` glob (``watch`` sees files added to it)

    def frame(self, k: int) -> str:
        return f"{self.name}/{k}"

    @property
    def frames(self) -> list[str]:
        return [self.frame(k) for k in range(self.count)]

    def pose_input(self, k: int) -> str:
        """The input name of frame k's pose: per frame without motion; with motion, every
        frame of the animation takes every pose (they are denoised together)."""
        return f"animations.{self.name}.poses.{k}" if self.motion else \
            f"animations.{self.name}.{k}.pose"


# JSON Schema of the ``animations`` value, for editors (``assetforge schema``).
SCHEMA: dict[str, Any] = {"additionalProperties": {
    "type": "object", "additionalProperties": False, "properties": {
        "poses": {"type": "string", "minLength": 1,
                  "description": "one control image per frame: a glob such as poses/walk/*.png"},
        "frames": {"type": "integer", "minimum": 1, "maximum": MAX_FRAMES,
                   "description": "a frame count (with motion)"},
        "fps": {"type": "number", "exclusiveMinimum": 0, "maximum": 240},
        "loop": {"enum": list(LOOPS)},
        "suffix": {"type": "string"},
        "motion": {"type": "string", "description": "a [motion.NAME] adapter"},
        "control": {"type": "object", "additionalProperties": False, "required": ["model"],
                    "properties": {"model": {"type": "string"},
                                   "scale": {"type": "number", "minimum": 0, "maximum": 2}}}}}}


def check(value: Any) -> str | None:
    """Type and shape of ``animations`` (the pose files are checked when specs load)."""
    if not value:
        return "must hold at least one animation: animations.walk = { poses = … }"
    for name, table in value.items():
        at = f"{name}"
        if not _NAME.fullmatch(name):
            return f"animation names are letters, digits, '_' or '-' (got {name!r})"
        if not isinstance(table, dict):
            return f"{at}: expected a table {{ poses = \"poses/{name}/*.png\", fps = 10 }}"
        for key in table:
            if key not in KEYS:
                from .suggest import did_you_mean

                return f"{at}.{key}: unknown key{did_you_mean(key, KEYS)}; known: " \
                       + ", ".join(KEYS)
        msg = _check_table(at, table)
        if msg:
            return msg
    return None


def _check_table(at: str, t: dict[str, Any]) -> str | None:
    if ("poses" in t) == ("frames" in t):
        return f"{at}: give poses = \"dir/*.png\" (one control image per frame) or " \
               "frames = N (with motion), not both"
    if "poses" in t and (not isinstance(t["poses"], str) or not t["poses"].strip()):
        return f"{at}.poses: expected a glob such as \"poses/walk/*.png\""
    if "frames" in t:
        n = t["frames"]
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_FRAMES:
            return f"{at}.frames: expected an integer from 1 to {MAX_FRAMES}"
        if "motion" not in t:
            return f"{at}.frames: frames = N needs motion = \"NAME\" (a [motion.NAME] adapter);" \
                   " without motion give poses"
    fps = t.get("fps", DEFAULT_FPS)
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0 < fps <= 240:
        return f"{at}.fps: expected a number greater than 0 and at most 240"
    if t.get("loop", "loop") not in LOOPS:
        return f"{at}.loop: expected one of {', '.join(LOOPS)}"
    for key in ("suffix", "motion"):
        if key in t and not isinstance(t[key], str):
            return f"{at}.{key}: expected a string"
    control = t.get("control")
    if control is not None:
        if not isinstance(control, dict) or not isinstance(control.get("model"), str):
            return f"{at}.control: expected a table {{ model = \"NAME\", scale = 1.0 }}"
        for key in control:
            if key not in ("model", "scale"):
                return f"{at}.control.{key}: unknown key (the image of each frame is its " \
                       "pose); known: model, scale"
        scale = control.get("scale", 1.0)
        if isinstance(scale, bool) or not isinstance(scale, int | float) or not 0 <= scale <= 2:
            return f"{at}.control.scale: must be a number between 0 and 2"
    if "poses" in t and control is None:
        return f"{at}.control: poses need a ControlNet: control = {{ model = \"NAME\" }}"
    return None


def expand(spec: AssetSpec, root: Path) -> list[Problem]:
    """Glob every animation's poses (sorted by name) and keep the result on ``spec``."""
    value = spec.fields.get("animations")
    if not isinstance(value, dict):
        spec.animations = {}
        return []
    out: dict[str, Animation] = {}
    problems: list[Problem] = []
    for name, t in value.items():
        poses: tuple[str, ...] = ()
        if "poses" in t:
            pattern = t["poses"].replace("\\", "/")
            where = Location(spec.source.path, spec.source.line_of(
                spec.kind, spec.id, "animations", name, "poses"))
            if pattern.startswith("/") or ".." in pattern.split("/"):
                problems.append(Problem(where, f"{spec.kind}.{spec.id}.animations.{name}.poses",
                                        "a glob relative to the project, inside it"))
                continue
            found = sorted(p.relative_to(root).as_posix() for p in root.glob(pattern)
                           if p.is_file()) if any(c in pattern for c in _GLOB) else (
                [pattern] if (root / pattern).is_file() else [])
            if not found or len(found) > MAX_FRAMES:
                problems.append(Problem(where, f"{spec.kind}.{spec.id}.animations.{name}.poses",
                                        f"{pattern!r} matches no file" if not found else
                                        f"{pattern!r} matches {len(found)} files; at most "
                                        f"{MAX_FRAMES} frames"))
                continue
            poses = tuple(found)
        out[name] = Animation(name, len(poses) or int(t["frames"]), poses,
                              float(t.get("fps", DEFAULT_FPS)), t.get("loop", "loop"),
                              t.get("suffix", name), t.get("motion"), t.get("control"),
                              t["poses"].replace("\\", "/") if "poses" in t else None)
    spec.animations = out
    return problems


def of_spec(spec: AssetSpec) -> dict[str, Animation]:
    return spec.animations or {}


def frame_of(spec: AssetSpec, view: str | None) -> tuple[Animation, int] | None:
    """(animation, frame index) when ``view`` is a frame ``NAME/K`` of ``spec``, else None."""
    if view is None or "/" not in view or not spec.animations:
        return None
    name, _, k = view.partition("/")
    anim = spec.animations.get(name)
    return (anim, int(k)) if anim is not None and k.isdigit() and int(k) < anim.count else None


def job_frame(job: Job) -> tuple[Animation, int] | None:
    return frame_of(job.spec, job.view)


def frame_tag(view: str) -> str:
    """``walk/3`` → ``walk_03`` (the output name's part)."""
    name, _, k = view.partition("/")
    return f"{name}_{int(k):02d}"


def pose_inputs(spec: AssetSpec) -> list[tuple[str, str, tuple]]:
    """(input name, ref, key path) of every pose, for the asset graph."""
    out = []
    for anim in of_spec(spec).values():
        for k, pose in enumerate(anim.poses):
            out.append((anim.pose_input(k), pose, ("animations", anim.name, "poses")))
    return out


def input_applies(name: str, view: str | None) -> bool | None:
    """Whether input ``name`` of an animation belongs to job ``view``; None: not a pose."""
    if not name.startswith("animations."):
        return None
    parts = name.split(".")
    if view is None or "/" not in view:
        return False
    anim, _, k = view.partition("/")
    if parts[2] == "poses":  # with motion: every frame takes every pose
        return parts[1] == anim
    return parts[1] == anim and parts[2] == k


def summary(spec: AssetSpec, records: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per animation: its frames' job ids, timing, and the largest frame-to-frame jitter of
    the aligned anchors recorded with the frames' latest generations (``anchor`` metrics of
    the animation plugin; None when they are not recorded, e.g. without cutout)."""
    anchors: dict[str, Any] = {}
    for r in records:  # oldest first: the latest generation of each job wins
        if r.get("status") == "ok":
            anchors[r["job_id"]] = ((r.get("metrics") or {}).get("anchor") or {}).get("aligned")
    out = {}
    for anim in of_spec(spec).values():
        jobs = [f"{spec.id}#{f}" for f in anim.frames]
        found = [anchors.get(j) for j in jobs]
        jitter = None
        if found and all(a is not None for a in found):
            pairs = list(zip(found, found[1:], strict=False))
            if anim.loop == "loop" and len(found) > 1:
                pairs.append((found[-1], found[0]))
            jitter = round(max((((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
                                for a, b in pairs), default=0.0), 3)
        out[anim.name] = {"frames": jobs, "fps": anim.fps, "loop": anim.loop,
                          "motion": anim.motion, "poses": list(anim.poses),
                          "jitter_px": jitter}
    return out


__all__ = ["Animation", "LOOPS", "DEFAULT_FPS", "check", "expand", "frame_of", "job_frame",
           "frame_tag", "of_spec", "pose_inputs", "input_applies", "summary"]
