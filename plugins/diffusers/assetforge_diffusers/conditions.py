"""Image conditions of a job: ``init_image``/``strength`` (img2img) and ``control`` (ControlNet).

Torch-free: the manifest keys, their checks, the image inputs they name (``ManifestKey.inputs``)
and what one job asks for, read from its spec (asset level, or its view's table) and its
resolved ``job.inputs``.

``control`` is one table or a list of tables ``{image = "@ID" | "path", model = "NAME",
scale = 1.0}``; ``model`` names a ``[controlnets.NAME]`` table of assetforge.toml. Inside a
character's view table (``views.front = { suffix = "…", control = {…} }``) it replaces the
asset-level value for that view; the core names that view's inputs ``views.front.…``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assetforge.api import (
    AssetSpec,
    InputRef,
    Job,
    Location,
    ManifestKey,
    Problem,
    UserError,
    did_you_mean,
    frame_of,
)

from .identity import FAMILY_PIPELINES

if TYPE_CHECKING:
    from assetforge.api import Project

DEFAULT_STRENGTH = 0.75
DEFAULT_SCALE = 1.0
MAX_SCALE = 2.0
CONTROL_KEYS = ("image", "model", "scale")
IMG2IMG = {"sd15": "StableDiffusionImg2ImgPipeline", "sd2": "StableDiffusionImg2ImgPipeline",
           "sdxl": "StableDiffusionXLImg2ImgPipeline", "sd3": "StableDiffusion3Img2ImgPipeline"}
CONTROLNET = {"sd15": "StableDiffusionControlNetPipeline",
              "sd2": "StableDiffusionControlNetPipeline",
              "sdxl": "StableDiffusionXLControlNetPipeline"}
CONTROLNET_IMG2IMG = {"sd15": "StableDiffusionControlNetImg2ImgPipeline",
                      "sd2": "StableDiffusionControlNetImg2ImgPipeline",
                      "sdxl": "StableDiffusionXLControlNetImg2ImgPipeline"}
# How init and control images are brought to the job's size; part of the recipe.
RESIZE = "lanczos-stretch"


# -- manifest keys -----------------------------------------------------------------------------
def _check_ref(value: str) -> str | None:
    if not value.strip():
        return "must be \"@ID\", \"@ID:VIEW\" or a path relative to the project"
    return None


def _check_strength(value: Any) -> str | None:
    return None if 0 < value <= 1 else "must be greater than 0 and at most 1"


def control_tables(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [value]


def _check_control(value: Any) -> str | None:
    tables = control_tables(value)
    if not tables:
        return "must be a table {image = …, model = …} or a list of such tables"
    for i, table in enumerate(tables):
        at = f"control[{i}]" if isinstance(value, list) else "control"
        if not isinstance(table, dict):
            return f"{at}: expected a table {{image = \"@ID\" or a path, model = \"NAME\"}}"
        for key in table:
            if key not in CONTROL_KEYS:
                return f"{at}.{key}: unknown key{did_you_mean(key, CONTROL_KEYS)}; " \
                       f"known: {', '.join(CONTROL_KEYS)}"
        for key in ("image", "model"):
            if key not in table:
                return f"{at}.{key}: missing"
            if not isinstance(table[key], str) or not table[key].strip():
                return f"{at}.{key}: expected a non-empty string"
        scale = table.get("scale", DEFAULT_SCALE)
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            return f"{at}.scale: expected a number"
        if not 0 <= scale <= MAX_SCALE:
            return f"{at}.scale: must be between 0 and {MAX_SCALE:g} (got {scale:g})"
    return None


def _init_inputs(value: Any) -> list[tuple[str, str]]:
    return [("init_image", value)] if isinstance(value, str) else []


def _control_inputs(value: Any) -> list[tuple[str, str]]:
    return [(f"control.{i}.image", t["image"]) for i, t in enumerate(control_tables(value))
            if isinstance(t, dict) and isinstance(t.get("image"), str)]


def manifest_keys() -> list[ManifestKey]:
    return [
        ManifestKey("init_image", (str,), "img2img: start from this image (\"@ID\", "
                    "\"@ID:VIEW\" or a path in the project)", check=_check_ref,
                    inputs=_init_inputs),
        ManifestKey("strength", (float, int), "img2img: how much to change init_image "
                    f"(0 < s <= 1, default {DEFAULT_STRENGTH})", check=_check_strength),
        ManifestKey("control", (dict, list), "ControlNet: {image = \"@ID\" or a path, "
                    "model = \"NAME\", scale = 1.0}, or a list of them",
                    check=_check_control, inputs=_control_inputs),
    ]


# -- what a job asks for -----------------------------------------------------------------------
@dataclass(frozen=True)
class Control:
    model: str  # a [controlnets.NAME] table
    scale: float
    input_name: str  # "control.0.image" or "views.front.control.0.image"
    ref: str  # as written


@dataclass(frozen=True)
class Conditions:
    init_input: str | None  # "init_image" or "views.V.init_image"; None: txt2img
    strength: float | None
    controls: tuple[Control, ...]

    @property
    def plain(self) -> bool:
        return self.init_input is None and not self.controls


PLAIN = Conditions(None, None, ())


def view_table(spec: AssetSpec, view: str | None) -> dict[str, Any]:
    """The view's table when ``views`` is a table of tables, else {}."""
    views = spec.fields.get("views")
    if view is None or not isinstance(views, dict):
        return {}
    table = views.get(view)
    return table if isinstance(table, dict) else {}


def _lookup(spec: AssetSpec, view: str | None, key: str) -> tuple[Any, str]:
    """(value, input-name prefix): the view's own value wins over the asset's."""
    vt = view_table(spec, view)
    if key in vt:
        return vt[key], f"views.{view}."
    return spec.fields.get(key), ""


def of(spec: AssetSpec, view: str | None) -> Conditions:
    """What the job for ``view`` of ``spec`` asks for (values assumed checked)."""
    f = spec.fields
    if spec.animations and view is not None and "/" in view:
        return _frame(spec, view)
    if "init_image" not in f and "control" not in f and not view_table(spec, view):
        return PLAIN  # most jobs: planning asks once per job, so no three lookups
    init, init_prefix = _lookup(spec, view, "init_image")
    strength, _ = _lookup(spec, view, "strength")
    control, prefix = _lookup(spec, view, "control")
    if init is None and control is None:
        return PLAIN
    controls = tuple(
        Control(t["model"], float(t.get("scale", DEFAULT_SCALE)),
                f"{prefix}control.{i}.image", t["image"])
        for i, t in enumerate(control_tables(control) if control is not None else ()))
    return Conditions(None if init is None else f"{init_prefix}init_image",
                      None if init is None else float(strength if strength is not None
                                                      else DEFAULT_STRENGTH),
                      controls)


def _frame(spec: AssetSpec, view: str) -> Conditions:
    """A frame of an animation without motion: its pose through the animation's ControlNet
    (with motion, animatediff.py reads the poses); the asset's init_image applies."""
    found = frame_of(spec, view)
    if found is None or found[0].motion or not found[0].poses or not found[0].control:
        return PLAIN
    anim, k = found
    control = Control(anim.control["model"], float(anim.control.get("scale", DEFAULT_SCALE)),
                      anim.pose_input(k), anim.poses[k])
    init = spec.fields.get("init_image")
    strength = spec.fields.get("strength")
    return Conditions(None if init is None else "init_image",
                      None if init is None else float(strength if strength is not None
                                                      else DEFAULT_STRENGTH), (control,))


def of_job(job: Job) -> Conditions:
    return of(job.spec, job.view)


def input_of(job: Job, name: str, key: str) -> InputRef:
    """The resolved input ``name`` of ``job``; a clear error when the core did not resolve it."""
    ref = job.inputs.get(name)
    if ref is None:
        raise UserError([Problem(where(job.spec, job.view, key), key,
                                 f"image input {name!r} was not resolved: this AssetForge "
                                 "core does not resolve image inputs (it needs the asset "
                                 "graph)")])
    return ref


def where(spec: AssetSpec, view: str | None, key: str) -> Location:
    """Where ``key`` of ``view`` is written: in the view's table, else at asset level."""
    if view is not None and key in view_table(spec, view):
        return Location(spec.source.path,
                        spec.source.line_of(spec.kind, spec.id, "views", view, key))
    return spec.where(key)


def pipeline_class(family: str, cond: Conditions) -> str:
    """The diffusers pipeline class a job runs with; ValueError for an unsupported family."""
    if cond.controls:
        table = CONTROLNET_IMG2IMG if cond.init_input is not None else CONTROLNET
        if family not in table:
            raise ValueError(f"ControlNet works with SD 1.x/2.x and SDXL models; this "
                             f"asset's model is {family}")
        return table[family]
    if cond.init_input is not None:
        return IMG2IMG[family]
    return FAMILY_PIPELINES[family]


# -- cross-key checks (validate_spec) ----------------------------------------------------------
def problems(spec: AssetSpec, project: Project) -> list[Problem]:
    """strength needs init_image; each control names a [controlnets.NAME] table."""
    from . import controlnets

    out: list[Problem] = []
    known = controlnets.tables(project)
    scopes: list[tuple[str | None, dict[str, Any], str]] = [(None, spec.fields, "")]
    views = spec.fields.get("views")
    if isinstance(views, dict):
        scopes += [(v, t, f"views.{v}.") for v, t in views.items() if isinstance(t, dict)]
    checked: set[str] = set()
    for view, fields, prefix in scopes:  # the asset, then each view table
        key = f"{spec.kind}.{spec.id}.{prefix}"
        has_init = "init_image" in fields or (  # a view inherits; the asset may serve views
            "init_image" in spec.fields if view else any(
                "init_image" in t for _v, t, _p in scopes[1:]))
        if "strength" in fields and not has_init:
            out.append(Problem(where(spec, view, "strength"), key + "strength",
                               "strength applies to img2img only: set init_image too"))
        for i, table in enumerate(control_tables(fields.get("control", []))):
            if not isinstance(table, dict) or not isinstance(table.get("model"), str):
                continue
            name = table["model"]
            if name not in known:
                out.append(Problem(where(spec, view, "control"), f"{key}control.{i}.model",
                                   f"unknown ControlNet {name!r}" + did_you_mean(name, known)
                                   + f"; add a [controlnets.{name}] table to "
                                   f"{project.config_path.name} (known: "
                                   f"{', '.join(known) or 'none'})"))
            elif name not in checked:
                checked.add(name)
                try:
                    controlnets.resolve(project, name)
                except UserError as e:
                    out += e.problems
    return out
