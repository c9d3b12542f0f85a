"""The data that flows between the core and plugins. Torch-free by design."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from .errors import Location  # defined with the errors that print it; exported from here too

if TYPE_CHECKING:
    from PIL import Image

    from .project import Project


class SourceFile:
    """A manifest file; its key -> line index is computed only when a message needs it."""

    def __init__(self, path: Path, text: str | None = None):
        self.path = path
        self._text = text
        self._lines: dict[tuple[str, ...], int] | None = None

    def line_of(self, *key: str) -> int:
        if self._lines is None:
            from .tomlpos import key_lines  # only when a message needs a line

            text = self._text
            if text is None:  # a cached parse: the file was valid UTF-8 when it was read
                text = self.path.read_bytes().decode("utf-8", "replace")
            self._lines = key_lines(text)
        from .tomlpos import line_of

        return line_of(self._lines, key)


@dataclass
class AssetSpec:
    """One manifest entry after kind defaults are applied.

    ``fields`` holds every key (core and plugin keys); ``expand_spec`` hooks may change it in
    place. ``where(key)`` locates a key in its manifest for error messages.
    """

    id: str
    kind: str
    fields: dict[str, Any]
    source: SourceFile
    explicit: frozenset[str] = frozenset()  # keys written in the manifest (not kind defaults)
    # A character's animations by name (``animations.Animation``), poses globbed on load.
    animations: dict[str, Any] | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.fields.get(key, default)

    @property
    def location(self) -> Location:
        return Location(self.source.path, self.source.line_of(self.kind, self.id))

    def where(self, key: str) -> Location:
        return Location(self.source.path, self.source.line_of(self.kind, self.id, key))


@dataclass
class Job:
    """One image to generate: an asset, or one view of a character."""

    asset_id: str
    kind: str
    view: str | None
    prompt: str
    negative_prompt: str
    seed: int
    width: int
    height: int
    steps: int
    guidance: float
    scheduler: str
    model: str
    output: str  # relative to the project's output_dir, POSIX separators
    spec: AssetSpec
    inputs: dict[str, InputRef] = field(default_factory=dict)  # resolved image inputs by name

    @property
    def job_id(self) -> str:
        return f"{self.asset_id}#{self.view}" if self.view else self.asset_id


@dataclass(frozen=True)
class InputRef:
    """A resolved image input: another asset's output (``"@ID"``, ``"@ID:VIEW"``) or a file.

    ``hash`` is the content of the file as it is on disk when the job is planned, so a hand
    edit upstream changes the dependents' recipes and a byte-identical rebuild does not.
    """

    name: str  # stable dotted path of the input in the manifest: "init_image", "control.0.image"
    ref: str  # as written in the manifest
    path: Path  # absolute path of the file
    hash: str  # tagged sha256 of its content
    asset: str | None = None  # the upstream asset id; None for a repository file
    view: str | None = None


@dataclass(frozen=True)
class ModelConfig:
    """A ``[models.NAME]`` table of assetforge.toml."""

    name: str
    source: str
    options: dict[str, Any] = field(default_factory=dict)
    location: Location | None = None


@dataclass(frozen=True)
class ModelIdentity:
    """Content identity of a model, computed without torch."""

    hash: str  # tagged, e.g. "sha256:…"
    family: str  # "sd15", "sdxl", "sd3", …
    short_hash: str = ""  # A1111-style 10 hex chars for the parameters chunk


@dataclass(frozen=True)
class RecipePart:
    """A plugin's contribution to an asset's recipe (and so to its cache key)."""

    plugin: str
    version: str
    params: dict[str, Any]


@dataclass(frozen=True)
class ManifestKey:
    """A manifest key a plugin adds; validation reports keys no plugin declared."""

    name: str
    types: tuple[type, ...]
    help: str
    kinds: tuple[str, ...] = ()  # empty: every kind
    check: Callable[[Any], str | None] | None = None  # returns an error message or None
    # The image inputs inside a value: (name, ref) pairs such as ("control.0.image", "@hero").
    inputs: Callable[[Any], list[tuple[str, str]]] | None = None
    # JSON Schema keywords that narrow the type for editors (``assetforge schema``): enum,
    # minimum/maximum, multipleOf, properties of a table… Never stricter than ``check``.
    schema: dict[str, Any] | None = None


@dataclass(frozen=True)
class AssetKind:
    """An asset kind (manifest table name) and its built-in defaults."""

    name: str
    defaults: dict[str, Any]
    output_dir: str  # default sub-folder of output_dir
    step: AssetStep | None = None  # built from other assets' outputs instead of generated


@dataclass(frozen=True)
class CheckResult:
    """A quality check's verdict on one generated image."""

    name: str
    passed: bool
    message: str = ""
    value: float | None = None
    severity: str = "fail"  # "fail": a failed check fails the asset; "warn": recorded only


@dataclass(frozen=True)
class WeightLicense:
    """A weight file that makes a job's image, and its licence, from ``weight_licenses``."""

    role: str  # "model", "lora", "controlnet", "upscaler", …
    name: str  # the model table, style pack or key that names it
    file: str  # the weight file or folder (project-relative when inside it), or a hub id
    license: str | None  # None: nobody declared one and the weights do not say
    source: str = ""  # where the licence was read: "assetforge.toml", "style.toml", …


@dataclass
class GenerationContext:
    """Everything a plugin sees while one job is generated and post-processed."""

    project: Project
    job: Job
    recipe: dict[str, Any]
    pipeline: Any  # the generator's loaded object (a diffusers pipeline for "diffusers")
    generator: str
    device: str = "cpu"
    metrics: dict[str, Any] = field(default_factory=dict)  # recorded with the generation


@dataclass(frozen=True)
class PostProcessor:
    """An image post-processing step; steps run in ascending ``order``."""

    name: str
    order: int
    process: Callable[[Image.Image, GenerationContext], Image.Image]
    applies: Callable[[Job], bool] = lambda job: True


@dataclass(frozen=True)
class DerivedFile:
    """One extra file a ``DerivedStep`` makes from a job's finished primary image."""

    name: str  # "normal", "height", …
    output: str  # relative to output_dir, POSIX separators
    params: dict[str, Any]  # everything that changes its bytes


@dataclass(frozen=True)
class DerivedStep:
    """A one-image → more-files step (PBR maps), returned by ``register_derived_outputs``."""

    name: str
    version: str
    files: Callable[[Job, Project], list[DerivedFile]]  # [] when the step does not apply
    make: Callable[[Image.Image, DerivedFile, Project], Image.Image]
    # When set: ``files`` returns [] for an asset whose fields hold none of these keys, so
    # planning does not ask it (a step a project never uses costs nothing per asset).
    keys: frozenset[str] | None = None


class Graph(Protocol):
    """The assets of a build, for steps that expand patterns over asset ids."""

    def ids(self) -> list[str]: ...

    def kind(self, asset_id: str) -> str: ...

    def views(self, asset_id: str) -> list[str]: ...  # [] for an asset without views
    # (animation frames are views too, named "NAME/K", after the character's own views)

    def animations(self, asset_id: str) -> dict[str, Any]: ...  # name → animations.Animation

    def output(self, asset_id: str, view: str | None = None) -> str: ...

    def field(self, asset_id: str, key: str) -> Any: ...  # a manifest key after kind defaults


@dataclass(frozen=True)
class StepResult:
    """What an ``AssetStep`` built: files by output path, and state kept for its next build."""

    files: dict[str, bytes]  # relative to output_dir → bytes
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AssetStep:
    """Builds an asset of a kind from other assets' outputs (atlases, tilesets)."""

    name: str
    version: str
    # (name, ref) image inputs of ``spec``, patterns expanded over ``graph``; ``previous`` is the
    # state of the asset's last build (None before the first).
    inputs: Callable[[AssetSpec, Graph, dict[str, Any] | None], list[tuple[str, str]]]
    params: Callable[[AssetSpec], dict[str, Any]]  # recipe parameters
    run: Callable[[AssetSpec, dict[str, InputRef], Project, dict[str, Any] | None], StepResult]


class Generator(Protocol):
    """A model backend, registered through ``register_generators``."""

    name: str
    version: str
    schedulers: tuple[str, ...]  # scheduler names a manifest may use

    def handles(self, model: ModelConfig) -> bool:
        """True when this generator can load ``model`` (checked without heavy imports)."""

    def identify(self, model: ModelConfig, project: Project) -> ModelIdentity:
        """Content identity of ``model`` without importing torch (may raise ``UserError``)."""

    def validate_scheduler(self, name: str, family: str) -> str | None:
        """An error message when scheduler ``name`` (one of ``schedulers``) cannot run a
        ``family`` model, else None. Called while validating, without heavy imports."""

    def recipe_fields(self, job: Job, model: ModelIdentity) -> dict[str, Any]:
        """Generator parameters that change the bytes (scheduler class and options, …)."""

    def load(self, model: ModelConfig, project: Project) -> Any:
        """Load the model once per build; the result is reused across jobs."""

    def device_of(self, loaded: Any) -> str:
        """The device a loaded model runs on, for the record."""

    def generate(self, loaded: Any, job: Job, ctx: GenerationContext) -> Image.Image:
        """Generate ``job``'s image: one image per call, initial noise from a CPU generator."""


class BatchGenerator(Generator, Protocol):
    """A ``Generator`` that also generates several jobs in one call (optional; see
    ``assetforge/batching.py``). The engine groups jobs whose generator, model and recipe agree
    in everything but prompt, negative prompt and seed; a generator without these methods, or
    answering 1, gets one job per ``generate`` call as before."""

    def batch_size(self, job: Job, recipe: dict[str, Any]) -> int:
        """How many jobs like ``job`` (with this planned ``recipe``) to generate per call."""

    def generate_batch(self, loaded: Any, jobs: list[Job],
                       ctxs: list[GenerationContext]) -> list[Image.Image | BaseException]:
        """One image per job, in order; an exception in place of an image fails that job
        alone. ``generate(loaded, job, ctx)`` must give the same bytes as this job in a batch
        (a job is rendered alone by ``verify --regenerate`` and by remote executors)."""

    def batch_shape(self, job: Job, recipe: dict[str, Any]) -> Any:
        """Optional: what of ``recipe`` the jobs of one call must share (JSON values). Without
        it, the recipe but ``prompt``, ``negative_prompt`` and ``seed``; a generator that takes
        per-image inputs in one call (a ControlNet image per job) leaves those out too."""
