"""``[controlnets.NAME]`` tables of assetforge.toml: what a ControlNet source is, checked and
identified by content without torch.

``source`` is one of

``builtin:tiny-controlnet-sd15``   built from the tiny SD 1.5 UNet (``tiny_controlnet.py``)
``controlnets/openpose`` (folder)   a diffusers ControlNet folder: ``config.json`` + weights
``controlnets/x.safetensors``       one weights file, original (A1111) or diffusers layout;
                                    ``config = "folder"`` (holding ``config.json``) is needed
                                    offline, as for single-file models
``org/name`` or ``org/name@rev``    a Hugging Face hub repository in diffusers layout

Pickle weights (``.bin``, ``.pth``, …) are refused unless ``[project] allow_pickle = true``.
The identity is the content hash of the files that are loaded (hub blobs by their sha256 names),
so renaming a table or moving a folder rebuilds nothing, and editing a weight rebuilds its users.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import Problem, UserError, did_you_mean, json_hash

from . import hub, identity, tiny_controlnet
from .sources import Source, classify

if TYPE_CHECKING:
    from assetforge.api import Project

TABLE = "controlnets"
OPTIONS = {"source": ("builtin", "folder", "file", "pickle", "hub"),
           "config": ("file", "pickle"), "family": ("file", "pickle"),
           "license": ("builtin", "folder", "file", "pickle", "hub")}  # recorded, not hashed
FAMILIES = ("sd15", "sd2", "sdxl")  # the families StableDiffusion(XL)ControlNetPipeline serve
_WEIGHTS_PATTERNS = ["config.json", "*.safetensors", "*.safetensors.index.json"]
_PICKLE_PATTERNS = ["*.bin", "*.bin.index.json"]
_COMMIT = re.compile(r"[0-9a-f]{40}")


@dataclass(frozen=True)
class ControlNetSource:
    """A checked ``[controlnets.NAME]`` table."""

    name: str
    source: Source
    family: str | None  # None: a single file whose family is not known
    folder: Path | None = None  # folder or hub snapshot holding config.json
    files: tuple[str, ...] = ()  # what loading reads, relative to ``folder``
    config: Path | None = None  # a single file's config folder
    options: dict[str, Any] = field(default_factory=dict)


def tables(project: Project) -> dict[str, Any]:
    value = project.config.get(TABLE, {})
    return value if isinstance(value, dict) else {}


def problem(project: Project, name: str, key: str, message: str, table: str = TABLE
            ) -> UserError:
    return UserError([Problem(project.where(table, name, key), f"{table}.{name}.{key}",
                              message)])


def family_of_config(path: Path) -> str:
    """sd15, sd2 or sdxl from a ControlNet ``config.json``; ModelFormatError otherwise."""
    try:
        cfg = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as e:
        raise identity.ModelFormatError(f"{path}: unreadable config.json: {e}") from None
    cls = cfg.get("_class_name") if isinstance(cfg, dict) else None
    if cls != "ControlNetModel":
        raise identity.ModelFormatError(
            f"{path}: a {cls or 'non-diffusers'} config, not a ControlNetModel (only SD 1.x/2.x "
            "and SDXL ControlNets are supported)")
    if cfg.get("addition_embed_type") == "text_time":
        return "sdxl"
    return "sd2" if cfg.get("cross_attention_dim") == 1024 else "sd15"


def _weight_files(folder: Path) -> tuple[list[str], list[str]]:
    """(safetensors files and index, pickle files) directly in ``folder``, no precision
    variants (``*.fp16.safetensors``)."""
    safe, unsafe = [], []
    for p in sorted(folder.iterdir()):
        if not p.is_file() or any(f".{v}." in p.name for v in ("fp16", "bf16", "fp32")):
            continue
        if p.name.endswith((".safetensors", ".safetensors.index.json")):
            safe.append(p.name)
        elif p.name.endswith((".bin", ".bin.index.json", ".pt", ".pth", ".ckpt")):
            unsafe.append(p.name)
    return safe, unsafe


def _folder(project: Project, name: str, folder: Path, key: str = "source"
            ) -> tuple[str, tuple[str, ...]]:
    if not (folder / "config.json").is_file():
        raise problem(project, name, key, f"{folder} is not a diffusers ControlNet folder "
                       "(no config.json)")
    try:
        family = family_of_config(folder / "config.json")
    except identity.ModelFormatError as e:
        raise problem(project, name, key, str(e)) from None
    safe, unsafe = _weight_files(folder)
    if not safe and not unsafe:
        raise problem(project, name, key, f"{folder} has no weights (no .safetensors file)")
    if not safe:
        _refuse_pickle(project, name, [folder / f for f in unsafe])
    return family, tuple(sorted(["config.json", *(safe or unsafe)]))


def _refuse_pickle(project: Project, name: str, files: list[Path]) -> None:
    if files and not project.allow_pickle:
        raise problem(project, name, "source", f"{files[0]}: pickle weights can run "
                       "arbitrary code when loaded; convert them to .safetensors, or set "
                       f"allow_pickle = true under [project] in {project.config_path.name} "
                       "if you trust them")


def resolve(project: Project, name: str) -> ControlNetSource:
    """Check table ``name`` (keys, source, files, pickle policy); torch-free, no hashing."""
    table = tables(project).get(name)
    if not isinstance(table, dict):
        raise UserError([Problem(project.where(TABLE, name), f"{TABLE}.{name}",
                                 "expected a table with 'source'")])
    value = table.get("source")
    if not isinstance(value, str) or not value.strip():
        raise problem(project, name, "source", "missing: a diffusers ControlNet folder, a "
                       ".safetensors file, a hub id or builtin:tiny-controlnet-sd15")
    src = classify(value, project.root)
    if src is None and value.startswith("builtin:"):
        src = Source("builtin", value.removeprefix("builtin:"))
    if src is None:
        raise problem(project, name, "source", f"{value!r} is not a ControlNet source")
    for key in table:
        if key not in OPTIONS:
            raise problem(project, name, key, "unknown key" + did_you_mean(key, OPTIONS)
                           + f"; known: {', '.join(OPTIONS)}")
        if src.kind not in OPTIONS[key]:
            raise problem(project, name, key, "only applies to a single .safetensors file, "
                           f"not to a {src.kind} source")
        if key != "source" and not isinstance(table[key], str):
            raise problem(project, name, key, "expected a string")
    options = {k: v for k, v in table.items() if k != "source"}
    if src.kind == "builtin":
        if src.value not in tiny_controlnet.BUILTINS:
            raise problem(project, name, "source", f"unknown builtin ControlNet "
                           f"{src.value!r}{did_you_mean(src.value, tiny_controlnet.BUILTINS)};"
                           " known: " + ", ".join("builtin:" + n
                                                  for n in tiny_controlnet.BUILTINS))
        return ControlNetSource(name, src, tiny_controlnet.BUILTINS[src.value])
    if src.kind == "hub":
        snap = _hub_snapshot(project, name, src)
        family, files = _folder(project, name, snap)
        return ControlNetSource(name, src, family, snap, files)
    assert src.path is not None
    if not src.path.exists():
        raise problem(project, name, "source", f"no such "
                       f"{'folder' if src.kind == 'folder' else 'file'}: {src.path}")
    if src.kind == "folder":
        family, files = _folder(project, name, src.path)
        return ControlNetSource(name, src, family, src.path, files)
    if src.kind == "pickle":
        _refuse_pickle(project, name, [src.path])
    else:
        try:
            identity.safetensors_keys(src.path)
        except identity.ModelFormatError as e:
            raise problem(project, name, "source", str(e)) from None
    family = options.get("family")
    if family is not None and family not in FAMILIES:
        raise problem(project, name, "family", f"unknown family {family!r}; use one of "
                       + ", ".join(FAMILIES))
    config = None
    if "config" in options:
        config = project.resolve_path(options["config"])
        family, _files = _folder_config(project, name, config, family)
    return ControlNetSource(name, src, family, config=config, options=options)


def _folder_config(project: Project, name: str, config: Path, family: str | None
                   ) -> tuple[str, None]:
    if not (config / "config.json").is_file():
        raise problem(project, name, "config", f"{config} holds no config.json")
    try:
        found = family_of_config(config / "config.json")
    except identity.ModelFormatError as e:
        raise problem(project, name, "config", str(e)) from None
    if family is not None and family != found:
        raise problem(project, name, "family", f"{config} is a {found} ControlNet config")
    return found, None


def _hub_snapshot(project: Project, name: str, src: Source, table: str = TABLE) -> Path:
    """The local snapshot of a hub ControlNet (or motion adapter: ``table``), downloaded
    first when online."""
    base = hub.repo_folder(src.value)
    rev = src.revision or "main"
    if _COMMIT.fullmatch(rev):
        commit: str | None = rev
    else:
        ref = base / "refs" / rev
        project.note_read(ref)  # a newer download moves the branch: plan again
        commit = ref.read_text().strip() if ref.is_file() else None
    snap = base / "snapshots" / commit if commit else None
    if snap is not None and (snap / "config.json").is_file() and _weight_files(snap) != ([], []):
        return snap
    where = (f"{src.value}@{rev} is not in the Hugging Face cache {base.parent} (and there is "
             f"no local folder {project.root / src.value})")
    if hub.offline():
        raise problem(project, name, "source", f"{where}; HF_HUB_OFFLINE is set, so it "
                       f"cannot be downloaded now: download it once online (hf download "
                       f"{src.value}{' --revision ' + rev if src.revision else ''}), or unset "
                       "HF_HUB_OFFLINE and build again", table)
    try:
        from huggingface_hub import snapshot_download

        patterns = _WEIGHTS_PATTERNS + (_PICKLE_PATTERNS if project.allow_pickle else [])
        return Path(snapshot_download(src.value, revision=src.revision,
                                      cache_dir=hub.cache_dir(), allow_patterns=patterns,
                                      ignore_patterns=["*.fp16.*", "*.bf16.*"]))
    except Exception as e:  # noqa: BLE001 - network and hub errors, reported as such
        raise problem(project, name, "source", f"could not download {src.value}: "
                       f"{type(e).__name__}: {e}", table) from None


def content_identity(cn: ControlNetSource, project: Project) -> str:
    """Tagged sha256 naming the weights (and configs) loading reads."""
    if cn.source.kind == "builtin":
        return tiny_controlnet.builtin_identity(cn.source.value)
    if cn.folder is not None:
        folder = cn.folder
        linked = cn.source.kind == "hub"
        return identity.folder_identity(list(cn.files), lambda rel: (
            (hub.blob_sha256(folder / rel) if linked else None)
            or project.hash_file(folder / rel)))
    assert cn.source.path is not None
    weights = project.hash_file(cn.source.path)
    if cn.config is None:
        return weights
    return json_hash({"weights": weights,
                      "config": project.hash_file(cn.config / "config.json")})
