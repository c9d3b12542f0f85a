"""The public plugin API: everything a plugin may import from AssetForge, in one place.

Built-in plugins, the demo's plugin and third-party plugins import only from here
(``from assetforge.api import hookimpl, RecipePart, …``); the core's other modules are
internal and may change. ``tests/test_public_api.py`` fails when a plugin reaches past it.
"""

from __future__ import annotations

from .entrypoints import version as dist_version
from .errors import PluginError, Problem, UserError
from .executors import Executor, ExecutorSession, Rendered, portable
from .hashing import bytes_hash, canonical_json, file_sha256, json_hash, untag
from .hookspecs import hookimpl
from .interfaces import (
    AssetKind,
    AssetSpec,
    AssetStep,
    CheckResult,
    DerivedFile,
    DerivedStep,
    GenerationContext,
    Generator,
    Graph,
    InputRef,
    Job,
    Location,
    ManifestKey,
    ModelConfig,
    ModelIdentity,
    PostProcessor,
    RecipePart,
    SourceFile,
    StepResult,
    WeightLicense,
)
from .licenses import front_matter_license, safetensors_license
from .plugins import model_generator
from .project import Project
from .suggest import did_you_mean
from .tomlpos import TomlFile, key_lines, toml_problem
from .worker import WorkerRenderer

__all__ = [
    # the hook marker
    "hookimpl",
    # data that flows between the core and plugins
    "AssetKind", "AssetSpec", "AssetStep", "CheckResult", "DerivedFile", "DerivedStep",
    "GenerationContext", "Generator", "Graph", "InputRef", "Job", "Location", "ManifestKey",
    "ModelConfig", "ModelIdentity", "PostProcessor", "Project", "RecipePart", "SourceFile",
    "StepResult", "WeightLicense",
    # executors (register_executors): a result per job, a worker-side renderer
    "Executor", "ExecutorSession", "Rendered", "WorkerRenderer", "portable",
    # errors: UserError (exit 2, file:line), Problem (one located mistake), PluginError
    "PluginError", "Problem", "UserError", "toml_problem",
    # helpers
    "TomlFile", "key_lines", "did_you_mean", "dist_version",
    "front_matter_license", "safetensors_license",
    # a step that paints with the project's model: its generator and model table
    "model_generator",
    "bytes_hash", "canonical_json", "file_sha256", "json_hash", "untag",
]
