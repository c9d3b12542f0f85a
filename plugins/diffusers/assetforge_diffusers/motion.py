"""``[motion.NAME]`` tables of assetforge.toml: AnimateDiff motion adapters, checked and
identified by content without torch (like ``[controlnets.NAME]``, see ``controlnets.py``).

``source`` is ``builtin:tiny-motion-sd15`` (built for the tiny SD 1.5, ``tiny_motion.py``), a
diffusers MotionAdapter folder (``config.json`` + ``.safetensors``), a single ``.safetensors``
file (original AnimateDiff layout, e.g. ``mm_sd_v15_v2.safetensors``) or a hub id such as
``guoyww/animatediff-motion-adapter-v1-5-2``. Pickle weights are refused unless allow_pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import Animation, Job, Problem, UserError, did_you_mean, json_hash

from . import controlnets, hub, identity, tiny_motion
from .sources import Source, classify

if TYPE_CHECKING:
    from assetforge.api import Project

TABLE = "motion"
OPTIONS = ("source", "license")
FAMILIES = ("sd15",)  # AnimateDiff(ControlNet)Pipeline: SD 1.5 motion adapters
# How frames' starting noise is made and how loops are closed (animatediff.py); in recipes.
NOISE = "circle-walk-v1"
CONTEXT = "rotating-v1"


@dataclass(frozen=True)
class MotionSource:
    name: str
    source: Source
    folder: Path | None = None  # folder or hub snapshot holding config.json
    files: tuple[str, ...] = ()


def tables(project: Project) -> dict[str, Any]:
    value = project.config.get(TABLE, {})
    return value if isinstance(value, dict) else {}


def _problem(project: Project, name: str, key: str, message: str) -> UserError:
    return controlnets.problem(project, name, key, message, TABLE)


def _folder(project: Project, name: str, folder: Path) -> tuple[str, ...]:
    if not (folder / "config.json").is_file():
        raise _problem(project, name, "source", f"{folder} is not a diffusers MotionAdapter "
                       "folder (no config.json)")
    safe, unsafe = controlnets._weight_files(folder)
    if not safe and not unsafe:
        raise _problem(project, name, "source", f"{folder} has no weights (no .safetensors)")
    if not safe and not project.allow_pickle:
        raise _problem(project, name, "source", f"{folder / unsafe[0]}: pickle weights can "
                       "run arbitrary code when loaded; convert them to .safetensors, or set "
                       "allow_pickle = true under [project]")
    return tuple(sorted(["config.json", *(safe or unsafe)]))


def resolve(project: Project, name: str) -> MotionSource:
    """Check table ``name``; torch-free, no hashing."""
    table = tables(project).get(name)
    if not isinstance(table, dict):
        raise UserError([Problem(project.where(TABLE, name), f"{TABLE}.{name}",
                                 "expected a table with 'source'")])
    for key in table:
        if key not in OPTIONS:
            raise _problem(project, name, key, "unknown key" + did_you_mean(key, OPTIONS)
                           + f"; known: {', '.join(OPTIONS)}")
    value = table.get("source")
    if not isinstance(value, str) or not value.strip():
        raise _problem(project, name, "source", "missing: a MotionAdapter folder, a "
                       ".safetensors file, a hub id or builtin:tiny-motion-sd15")
    src = classify(value, project.root)
    if src is None and value.startswith("builtin:"):
        src = Source("builtin", value.removeprefix("builtin:"))
    if src is None:
        raise _problem(project, name, "source", f"{value!r} is not a motion adapter source")
    if src.kind == "builtin":
        if src.value not in tiny_motion.BUILTINS:
            raise _problem(project, name, "source", f"unknown builtin motion adapter "
                           f"{src.value!r}{did_you_mean(src.value, tiny_motion.BUILTINS)}; "
                           "known: " + ", ".join("builtin:" + n for n in tiny_motion.BUILTINS))
        return MotionSource(name, src)
    if src.kind == "hub":
        snap = controlnets._hub_snapshot(project, name, src, TABLE)
        return MotionSource(name, src, snap, _folder(project, name, snap))
    assert src.path is not None
    if not src.path.exists():
        raise _problem(project, name, "source", f"no such "
                       f"{'folder' if src.kind == 'folder' else 'file'}: {src.path}")
    if src.kind == "folder":
        return MotionSource(name, src, src.path, _folder(project, name, src.path))
    if src.kind == "pickle" and not project.allow_pickle:
        raise _problem(project, name, "source", f"{src.path}: pickle weights can run "
                       "arbitrary code when loaded; set allow_pickle = true if you trust them")
    if src.kind == "file":
        try:
            identity.safetensors_keys(src.path)
        except identity.ModelFormatError as e:
            raise _problem(project, name, "source", str(e)) from None
    return MotionSource(name, src)


def content_identity(ms: MotionSource, project: Project) -> str:
    """Tagged sha256 naming the weights (and config) loading reads."""
    if ms.source.kind == "builtin":
        return tiny_motion.builtin_identity(ms.source.value)
    if ms.folder is not None:
        folder, linked = ms.folder, ms.source.kind == "hub"
        return identity.folder_identity(list(ms.files), lambda rel: (
            (hub.blob_sha256(folder / rel) if linked else None)
            or project.hash_file(folder / rel)))
    assert ms.source.path is not None
    return json_hash({"weights": project.hash_file(ms.source.path)})


def license_of(project: Project, name: str) -> str | None:
    value = tables(project).get(name, {}).get("license")
    return value if isinstance(value, str) else None


def recipe_fields(job: Job, anim: Animation, k: int, family: str, project: Project
                  ) -> dict[str, Any]:
    """What a frame of a motion animation adds to its recipe: the adapter's identity, the
    frame count, this frame's index, the loop (it shapes the noise), the noise and context
    methods; with poses, the ControlNet that reads them."""
    where = job.spec.where("animations")
    if family not in FAMILIES:
        raise UserError([Problem(where, f"animations.{anim.name}.motion", f"motion adapters "
                                 f"work with SD 1.5 models; this asset's model is {family}")])
    ms = resolve(project, anim.motion or "")
    fields: dict[str, Any] = {
        "pipeline": "AnimateDiffControlNetPipeline" if anim.poses else "AnimateDiffPipeline",
        "animation": {"motion": content_identity(ms, project), "frames": anim.count,
                      "frame": k, "loop": anim.loop, "noise": NOISE,
                      "context": CONTEXT if anim.loop == "loop" else "single"},
    }
    if anim.poses and anim.control:
        from . import conditions

        cn = controlnets.resolve(project, anim.control["model"])
        fields["controlnets"] = [{"model": controlnets.content_identity(cn, project),
                                  "scale": float(anim.control.get("scale", 1.0)),
                                  "image": f"animations.{anim.name}.poses"}]
        fields["resize"] = conditions.RESIZE
    return fields


def spec_problems(spec: Any, project: Project) -> list[Problem]:
    """Each animation's ``motion`` names a valid [motion.NAME] table and its ``control`` a
    [controlnets.NAME] table."""
    out: list[Problem] = []
    known_cn = controlnets.tables(project)
    known = tables(project)
    for anim in (spec.animations or {}).values():
        at = f"{spec.kind}.{spec.id}.animations.{anim.name}"
        where = spec.where("animations")
        if anim.control and anim.control["model"] not in known_cn:
            name = anim.control["model"]
            out.append(Problem(where, f"{at}.control.model", f"unknown ControlNet {name!r}"
                               + did_you_mean(name, known_cn) + f"; add a [controlnets.{name}] "
                               f"table to {project.config_path.name}"))
        if anim.motion is not None:
            if anim.motion not in known:
                out.append(Problem(where, f"{at}.motion", f"unknown motion adapter "
                                   f"{anim.motion!r}" + did_you_mean(anim.motion, known)
                                   + f"; add a [motion.{anim.motion}] table with source = … to "
                                   f"{project.config_path.name}"))
            else:
                try:
                    most = max_frames(resolve(project, anim.motion))
                except UserError as e:
                    out += e.problems
                    continue
                if most is not None and anim.count > most:
                    out.append(Problem(where, f"{at}.frames", f"{anim.count} frames, but motion "
                                       f"adapter {anim.motion!r} makes at most {most} in one "
                                       f"call (its motion_max_seq_length); use {most} or "
                                       "fewer"))
    return out


# diffusers' MotionAdapter default, for a config.json without the key
DEFAULT_MAX_FRAMES = 32


def max_frames(ms: MotionSource) -> int | None:
    """How many frames the adapter's positional encoding covers (None: a single-file
    checkpoint, whose header is not read for it)."""
    import json

    if ms.source.kind == "builtin":
        return int(tiny_motion.CONFIG["motion_max_seq_length"])
    if ms.folder is None:
        return None
    try:
        config = json.loads((ms.folder / "config.json").read_text("utf-8"))
        return int(config.get("motion_max_seq_length", DEFAULT_MAX_FRAMES))
    except (OSError, ValueError, TypeError, AttributeError):
        return None


def weight_licenses(project: Project, name: str) -> list[Any]:
    """The adapter's licence: ``license`` in its table, else read from its weights."""
    from assetforge.api import ModelConfig

    from .identity import model_license

    table = tables(project).get(name)
    if not isinstance(table, dict) or not isinstance(table.get("source"), str):
        return []
    cfg = ModelConfig(name, table["source"], {k: v for k, v in table.items() if k != "source"})
    return [model_license(cfg, project, role="motion", table=TABLE)]
