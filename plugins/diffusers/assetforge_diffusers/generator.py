"""``DiffusersGenerator``: the ``assetforge.interfaces.Generator`` for diffusers models.

Jobs with ``init_image`` or ``control`` (see ``conditions.py``) run on pipelines derived from
the loaded one (``variants.py``); their recipes add what changes the bytes.

Everything up to ``load()`` is torch-free (planning calls ``handles``, ``identify``,
``recipe_fields`` and ``validate_scheduler`` for every asset); ``load``/``generate`` import
``.pipeline``, which imports torch and diffusers.

Model table options (``[models.NAME]`` besides ``source``):

``config``  for a single-file checkpoint: a local diffusers folder of the same architecture
            whose configs, tokenizers and scheduler are used (needed offline; part of the
            model's identity, since they change the bytes).
``family``  for a single-file checkpoint whose architecture cannot be told from its tensor
            names: one of sd15, sd2, sdxl, sd3.
``batch``, ``memory``, ``offload``, ``vae_slicing``, ``vae_tiling``, ``layerwise_fp8``,
``quantize``, ``compile``: throughput and memory settings (``memory.py``, ``batched.py``).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import (
    GenerationContext,
    Job,
    ModelConfig,
    ModelIdentity,
    Problem,
    UserError,
    did_you_mean,
    dist_version,
    job_frame,
    json_hash,
)

from . import conditions, controlnets, hub, identity, memory, motion, runtime, schedulers, tiny
from .identity import FAMILIES, FAMILY_PIPELINES, ModelFormatError
from .sources import Source, classify, root_of

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import Project

DIST = "assetforge-diffusers"
OPTIONS: dict[str, tuple[str, ...]] = {  # option -> source kinds that accept it
    "config": ("file", "pickle"),
    "family": ("file", "pickle"),
    "license": ("builtin", "folder", "file", "pickle", "hub"),  # recorded, not hashed
    **{key: ("builtin", "folder", "file", "pickle", "hub") for key in memory.KEYS},
}
# Changes when the way noise is made changes: old recipes must not match new images.
NOISE = "cpu-generator-randn-float32-v1"


def _version() -> str:
    # assetforge.entrypoints reads it without importing importlib.metadata (slow to import).
    return dist_version(DIST) or "0+unknown"


@dataclass(frozen=True)
class _Folder:
    path: Path
    index: dict[str, Any]
    family: str
    files: list[str]  # what load() reads, relative to path


@dataclass(frozen=True)
class _Resolved:
    source: Source
    family: str
    folder: _Folder | None = None  # a diffusers folder or hub snapshot
    config: _Folder | None = None  # a single-file checkpoint's config folder


def _problem(model: ModelConfig, message: str, key: str = "source") -> UserError:
    return UserError([Problem(model.location, f"models.{model.name}.{key}", message)])


class DiffusersGenerator:
    """Stable Diffusion 1.x/2.x, SDXL and SD3 through diffusers (see the module docstring)."""

    name = "diffusers"
    schedulers: tuple[str, ...] = schedulers.NAMES

    def __init__(self) -> None:
        self.version = _version()
        # The project of the last identify(): recipe_fields() gets no project, but the core
        # always identifies a model before making recipes with it.
        self._project: Project | None = None
        # Its runtime, resolved on first use after each identify() (once per plan, not per job).
        self._runtime: runtime.Runtime | None = None
        self._devices: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()
        # [controlnets.NAME] -> (content identity, family), per plan like the runtime.
        self._controlnets: dict[tuple[Path, str], tuple[str, str | None]] = {}
        # [models.NAME] -> its checked memory/batch settings, per plan like the runtime.
        self._settings: dict[str, memory.Settings] = {}

    # -- planning (torch-free) ---------------------------------------------------------------
    def handles(self, model: ModelConfig) -> bool:
        """Builtin tiny models, diffusers folders, checkpoints and hub ids (no scheme)."""
        return classify(model.source, root_of(model)) is not None

    def _source(self, model: ModelConfig, project: Project) -> Source:
        src = classify(model.source, project.root)
        if src is None:
            raise _problem(model, f"{model.source!r} is not a model the diffusers generator "
                           "can load")
        for key in model.options:
            if key not in OPTIONS:
                raise _problem(model, "unknown option" + did_you_mean(key, OPTIONS), key)
            if src.kind not in OPTIONS[key]:
                raise _problem(model, f"only applies to single-file checkpoints, not to "
                               f"a {src.kind} source", key)
        return src

    def _refuse_pickle(self, model: ModelConfig, project: Project, files: list[Path]) -> None:
        if files and not project.allow_pickle:
            names = ", ".join(str(f) for f in files[:3]) + (" …" if len(files) > 3 else "")
            raise _problem(model, f"{names}: pickle weights can run arbitrary code when "
                           "loaded; convert them to .safetensors, or set allow_pickle = true "
                           f"under [project] in {project.config_path.name} if you trust them")

    def _family_option(self, model: ModelConfig) -> str | None:
        fam = model.options.get("family")
        if fam is not None and fam not in FAMILIES:
            raise _problem(model, f"unknown family {fam!r}; use one of {', '.join(FAMILIES)}",
                           "family")
        return fam

    def _folder(self, model: ModelConfig, project: Project, folder: Path,
                key: str = "source") -> _Folder:
        """Check a diffusers folder or hub snapshot: readable, complete, no refused pickle."""
        try:
            index = identity.read_model_index(folder)
            family = identity.family_of_folder(folder, index)
            files, pickles = identity.model_files(folder, index)
        except ModelFormatError as e:
            raise _problem(model, str(e), key) from None
        missing = identity.missing_parts(folder, index, files)
        if missing:
            raise _problem(model, f"{folder} is incomplete: missing {', '.join(missing)}", key)
        self._refuse_pickle(model, project, [folder / p for p in pickles])
        return _Folder(folder, index, family, files)

    def _resolve(self, model: ModelConfig, project: Project) -> _Resolved:
        """Everything identify() and load() need, checked, without hashing or torch."""
        src = self._source(model, project)
        if src.kind == "builtin":
            if src.value not in tiny.TINY_MODELS:
                raise _problem(model, f"unknown builtin model {src.value!r}"
                               f"{did_you_mean(src.value, tiny.TINY_MODELS)}; known: "
                               + ", ".join("builtin:" + n for n in tiny.TINY_MODELS))
            return _Resolved(src, src.value.removeprefix("tiny-"))
        if src.kind == "hub":
            folder = self._folder(model, project, self.ensure_available(model, project))
            return _Resolved(src, folder.family, folder)
        assert src.path is not None
        if not src.path.exists():
            raise _problem(model, f"no such {'folder' if src.kind == 'folder' else 'file'}: "
                           f"{src.path}")
        if src.kind == "folder":
            folder = self._folder(model, project, src.path)
            return _Resolved(src, folder.family, folder)
        # a single-file checkpoint
        if src.kind == "pickle":
            self._refuse_pickle(model, project, [src.path])
        family = self._family_option(model)
        if family is None:
            try:
                keys = (identity.safetensors_keys(src.path) if src.kind == "file"
                        else identity.pickle_keys(src.path))
                family = identity.family_of_keys(src.path, keys)
            except ModelFormatError as e:
                raise _problem(model, str(e)) from None
        value = model.options.get("config")
        config = None
        if value is not None:
            if not isinstance(value, str):
                raise _problem(model, "expected a path to a diffusers folder", "config")
            config = self._folder(model, project, project.resolve_path(value), "config")
            if config.family != family:
                raise _problem(model, f"{config.path} is a {config.family} model, but the "
                               f"checkpoint is {family}", "config")
        return _Resolved(src, family, config=config)

    def identify(self, model: ModelConfig, project: Project) -> ModelIdentity:
        """Content identity and family, without torch (see identity.py for the rules)."""
        self._project, self._runtime = project, None
        self._controlnets = {}
        r = self._resolve(model, project)
        self._settings[model.name] = self.settings(model, project, r)

        def folder_hash(f: _Folder) -> str:
            linked = r.source.kind == "hub"  # snapshot files link to blobs named by sha256
            if linked:  # which snapshot: the branch's ref (a newer download moves it)
                project.note_read(f.path.parent.parent / "refs" / (r.source.revision or "main"))
                project.note_read(f.path / "model_index.json")
            return identity.folder_identity(f.files, lambda rel: (
                (hub.blob_sha256(f.path / rel) if linked else None)
                or project.hash_file(f.path / rel)))

        if r.source.kind == "builtin":
            digest = short = tiny.builtin_identity(r.source.value)
        elif r.folder is not None:
            digest = short = folder_hash(r.folder)
        else:
            assert r.source.path is not None
            short = project.hash_file(r.source.path)  # as A1111 and civitai show it
            digest = short if r.config is None else json_hash(
                {"checkpoint": short, "config": folder_hash(r.config)})
        return ModelIdentity(digest, r.family, identity.short_hash(short))

    def settings(self, model: ModelConfig, project: Project,
                 r: _Resolved | None = None) -> memory.Settings:
        """The model's checked batch, memory and compile settings for this machine."""
        rt = runtime.resolve(project)
        if rt.detected:  # a GPU appearing or going changes "auto" (and the recipe's dtype)
            for dev in runtime.DEVICE_FILES:
                project.note_read(Path(dev), beside=False)  # /dev changes all the time
        found = memory.settings(model, project, rt.device)
        r = r or self._resolve(model, project)
        if found.quantize and r.folder is None and r.source.kind != "builtin":
            raise memory.problem(model, project, "quantize", "quantization applies to diffusers "
                                 "folders and hub ids, not to a single-file checkpoint")
        return found

    def ensure_available(self, model: ModelConfig, project: Project | None = None) -> Path:
        """For a hub id: the local snapshot, downloaded first when online and not cached.

        Offline (HF_HUB_OFFLINE) or on failure, a UserError says how to get it. Resolved on
        every call (never remembered), so a newer download of a branch is seen at once.
        """
        project = project or self._project
        root = project.root if project is not None else root_of(model)
        src = classify(model.source, root)
        if src is None or src.kind != "hub":
            raise _problem(model, f"{model.source!r} is not a hub id (org/name[@revision])")
        try:
            return hub.ensure_available(src.value, src.revision,
                                        bool(project and project.allow_pickle))
        except (hub.NotCached, ModelFormatError) as e:
            raise _problem(model, f"{e} (and there is no local folder {root / model.source})"
                           ) from None
        except Exception as e:  # noqa: BLE001 - network and hub errors, reported as such
            raise _problem(model, f"could not download {src.value}: "
                           f"{type(e).__name__}: {e}") from None

    def validate_scheduler(self, name: str, family: str) -> str | None:
        """An error message when scheduler ``name`` cannot run a ``family`` model, else None."""
        return schedulers.validate_scheduler(name, family)

    def recipe_fields(self, job: Job, model: ModelIdentity,
                      project: Project | None = None) -> dict[str, Any]:
        """What changes the bytes beyond the core's fields: pipeline, scheduler, dtype, noise.

        The device is left out on purpose: it is recorded as metadata.
        """
        try:
            cls, overrides = schedulers.spec(job.scheduler, model.family)
        except ValueError as e:
            raise UserError([Problem(job.spec.where("scheduler"), "scheduler", str(e))]) from None
        if project is not None:
            rt = runtime.resolve(project)
        else:
            if self._runtime is None:
                self._runtime = runtime.resolve(self._project)
            rt = self._runtime
        fields = {
            "pipeline": FAMILY_PIPELINES[model.family],
            "scheduler_class": cls or "model default",
            "scheduler_config": overrides,
            "dtype": rt.dtype,
            "noise": NOISE,
        }
        fields.update(self._settings.get(job.model, memory.DEFAULT).recipe())
        motion_frame = job_frame(job) if job.spec.animations else None
        if motion_frame is not None and motion_frame[0].motion:  # AnimateDiff: motion.py
            fields["batch_size"] = 1  # the animation's frames are one call of their own
            fields.update(motion.recipe_fields(job, *motion_frame, model.family,
                                               project or self._project))
            return fields
        cond = conditions.of_job(job)
        if not cond.plain:  # txt2img recipes stay exactly as they were
            if cond.init_input is not None:
                fields["batch_size"] = 1  # img2img jobs are generated alone
            # txt2img with ControlNets batches: each job brings its own control images
            fields.update(self._condition_fields(job, cond, model, project or self._project))
        return fields

    def _condition_fields(self, job: Job, cond: conditions.Conditions, model: ModelIdentity,
                          project: Project | None) -> dict[str, Any]:
        """img2img strength, ControlNet identities and scales, the resize method.

        The input images' hashes are the core's (recipe ``inputs``); each entry names the
        input it reads, so the pairing of images and ControlNets is in the recipe too.
        """
        spec, view = job.spec, job.view
        try:
            pipeline_class = conditions.pipeline_class(model.family, cond)
        except ValueError as e:
            raise UserError([Problem(conditions.where(spec, view, "control"), "control",
                                     str(e))]) from None
        out: dict[str, Any] = {"pipeline": pipeline_class, "resize": conditions.RESIZE}
        if cond.init_input is not None:
            assert cond.strength is not None
            if int(job.steps * cond.strength) < 1:
                raise UserError([Problem(conditions.where(spec, view, "strength"), "strength",
                                         f"strength {cond.strength:g} x {job.steps} steps "
                                         "runs no denoising step; raise steps or strength")])
            out["img2img"] = {"strength": cond.strength, "image": cond.init_input}
        if cond.controls:
            assert project is not None, "identify() runs before recipe_fields()"
            nets = []
            for c in cond.controls:
                digest, family = self._controlnet(project, c.model)
                if family is not None and family != model.family:
                    raise UserError([Problem(
                        conditions.where(spec, view, "control"), "control",
                        f"ControlNet {c.model!r} is for {family} models, but this asset's "
                        f"model is {model.family}")])
                nets.append({"model": digest, "scale": c.scale, "image": c.input_name})
            out["controlnets"] = nets
        return out

    def _controlnet(self, project: Project, name: str) -> tuple[str, str | None]:
        key = (project.config_path, name)
        if key not in self._controlnets:
            cn = controlnets.resolve(project, name)
            self._controlnets[key] = (controlnets.content_identity(cn, project), cn.family)
        return self._controlnets[key]

    # -- building (torch) ----------------------------------------------------------------------
    def load(self, model: ModelConfig, project: Project) -> Any:
        """Load the pipeline once per build, on the resolved device, progress bars off."""
        r = self._resolve(model, project)  # the same checks and refusals as planning
        rt = runtime.resolve(project)
        runtime.check(rt, project)
        from . import pipeline

        threads = project.generation.get("threads")
        if isinstance(threads, int) and threads > 0:
            import torch

            torch.set_num_threads(threads)

        tune = self.settings(model, project, r)
        try:
            if r.source.kind == "builtin":
                folder = tiny.ensure_tiny_model(r.source.value)
                return pipeline.load_folder(folder, r.family, identity.read_model_index(folder),
                                            rt, project.allow_pickle, tune)
            if r.folder is not None:
                return pipeline.load_folder(r.folder.path, r.family, r.folder.index, rt,
                                            project.allow_pickle, tune)
            assert r.source.path is not None
            return pipeline.load_single_file(
                r.source.path, r.family, rt, r.config.path if r.config else None,
                local_files_only=hub.offline() or r.config is not None, tune=tune)
        except (OSError, ValueError, KeyError) as e:
            hint = ""
            if r.source.kind in ("file", "pickle") and r.config is None:
                hint = ('; offline, a single-file checkpoint needs config = "path/to/a '
                        'diffusers folder of the same architecture" in its model table')
            raise _problem(model, f"cannot load {r.source.path or r.source.value}: "
                           f"{type(e).__name__}: {e}{hint}") from None

    def device_of(self, loaded: Any) -> str:
        """The device the pipeline runs on ("cpu", "cuda:0", "mps").

        Asked once per job; diffusers finds it by walking the modules' parameters (6 ms), and
        a loaded pipeline stays where load() put it, so it is remembered per pipeline.
        """
        device = self._devices.get(loaded)
        if device is None:
            from . import pipeline

            device = self._devices[loaded] = pipeline.device_of(loaded)
        return device

    def generate(self, loaded: Any, job: Job, ctx: GenerationContext) -> Image.Image:
        """One image: the job's scheduler, CPU-generator noise, the pipeline on its device."""
        from . import pipeline

        motion_frame = job_frame(job) if job.spec.animations else None
        cond = conditions.of_job(job)
        size = self.batch_size(job, ctx.recipe)
        if size > 1:  # alone (verify, a remote worker): in a call of the recorded batch size,
            # at its recorded place (verify puts the record's batch_index in ctx.metrics)
            result = self.generate_batch(loaded, [job], [ctx])[0]
            if isinstance(result, BaseException):
                raise result
            return result
        if motion_frame is not None and motion_frame[0].motion:
            from . import animatediff  # all frames in one call, kept for the other frames

            image, ran = animatediff.frame(loaded, job, *motion_frame, ctx.project, ctx.recipe)
            ctx.metrics["animation_call"] = "made every frame" if ran else "shared"
        elif cond.plain:
            image = pipeline.run(loaded, job)
        else:
            from . import variants

            image = variants.run(loaded, job, cond, ctx.project)
        ctx.metrics.setdefault("dtype", str(pipeline.denoiser_dtype(loaded)).removeprefix(
            "torch."))
        ctx.metrics.setdefault("scheduler_class", type(loaded.scheduler).__name__)
        self._record(loaded, ctx)
        return image

    # -- batches (assetforge.api.BatchGenerator) -------------------------------------------------
    def batch_size(self, job: Job, recipe: dict[str, Any]) -> int:
        """The recipe's batch size: the model's ``batch`` for plain txt2img jobs, else 1."""
        size = (recipe.get("generator") or {}).get("batch_size", 1)
        return size if isinstance(size, int) and size > 1 else 1

    def batch_shape(self, job: Job, recipe: dict[str, Any]) -> Any:
        """The recipe but what one call takes per image: prompts, seeds, and each job's
        input images (a ControlNet's image; the nets and their scales are shared)."""
        out = {k: v for k, v in recipe.items()
               if k not in ("prompt", "negative_prompt", "seed", "inputs")}
        gen = out.get("generator")
        if isinstance(gen, dict) and isinstance(gen.get("controlnets"), list):
            out["generator"] = {**gen, "controlnets": [
                {k: v for k, v in c.items() if k != "image"} if isinstance(c, dict) else c
                for c in gen["controlnets"]]}
        return out

    def generate_batch(self, loaded: Any, jobs: list[Job],
                       ctxs: list[GenerationContext]) -> list[Image.Image | BaseException]:
        """Jobs of one shape in calls of exactly the recipe's batch size (see batched.py)."""
        from . import batched
        from .pipeline import denoiser_dtype

        size = self.batch_size(jobs[0], ctxs[0].recipe)
        at = ctxs[0].metrics.get("batch_index", 0) if len(jobs) == 1 else 0
        placed = batched.run(loaded, jobs, size, at if isinstance(at, int) else 0,
                             ctxs[0].project)
        dtype = str(denoiser_dtype(loaded)).removeprefix("torch.")
        for ctx, (_image, index) in zip(ctxs, placed, strict=True):
            ctx.metrics.setdefault("dtype", dtype)
            ctx.metrics.setdefault("scheduler_class", type(loaded.scheduler).__name__)
            ctx.metrics["batch_size"], ctx.metrics["batch_index"] = size, index
            self._record(loaded, ctx)
        return [image for image, _index in placed]

    def _record(self, loaded: Any, ctx: GenerationContext) -> None:
        """Memory and compile settings beside the recipe (``memory.Settings.record``)."""
        from . import tuning

        found = tuning.applied(loaded)
        if found is not None:
            ctx.metrics.setdefault("memory", found)
