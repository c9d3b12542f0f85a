"""The diffusers generator on real tiny pipelines: every source kind, schedulers, identities.

Images are compared by their pixel bytes. Two sources holding the same weights (the builtin
folder, a copy of it, a single-file export of it, a hub snapshot of it) must give the same
pixels: that is what proves each loading path really loads those weights.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from assetforge_diffusers import hub, runtime
from assetforge_diffusers.generator import DiffusersGenerator
from assetforge_diffusers.plugin import register_generators
from assetforge_diffusers.tiny import ensure_tiny_model
from helpers import build_json, run_cli
from PIL import Image

from assetforge.errors import UserError
from assetforge.interfaces import (
    AssetSpec,
    GenerationContext,
    Job,
    Location,
    ModelConfig,
    SourceFile,
)
from assetforge.project import Project, load_project

HEAVY = ("torch", "diffusers", "transformers")
# The manifest the test jobs come from: width is on line 3, scheduler on line 4.
MANIFEST = '[texture.wall]\nprompt = "a mossy brick wall"\nwidth = 64\nscheduler = "x"\n'


# -- helpers -----------------------------------------------------------------------------------
def make(root: Path, models: dict[str, str], extra: str = "") -> Project:
    """A project folder whose [models.*] tables are ``models`` (name -> TOML body)."""
    root.mkdir(parents=True, exist_ok=True)
    tables = "".join(f"[models.{n}]\n{textwrap.dedent(body)}\n" for n, body in models.items())
    (root / "assetforge.toml").write_text(f'[project]\nname = "t"\n{extra}\n{tables}')
    return load_project(root)


def job(model: str = "m", *, seed: int = 1, scheduler: str = "default", width: int = 64,
        height: int = 64, steps: int = 2) -> Job:
    spec = AssetSpec("wall", "texture", {}, SourceFile(Path("manifests/a.toml"), MANIFEST))
    return Job("wall", "texture", None, "a mossy brick wall", "blurry", seed, width, height,
               steps, 5.0, scheduler, model, "textures/wall.png", spec)


def generate(gen: DiffusersGenerator, pipe, project: Project, j: Job) -> Image.Image:
    return gen.generate(pipe, j, GenerationContext(project, j, {}, pipe, gen.name))


def pixels(img: Image.Image) -> bytes:
    return img.size[0].to_bytes(4, "big") + img.size[1].to_bytes(4, "big") + img.tobytes()


def write_safetensors(path: Path, keys: list[str]) -> Path:
    """A valid .safetensors file with one float32 per key, written without torch."""
    header = {k: {"dtype": "F32", "shape": [1], "data_offsets": [4 * i, 4 * i + 4]}
              for i, k in enumerate(keys)}
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + b"\0" * (4 * len(keys)))
    return path


def fake_hub_cache(cache: Path, repo: str, folder: Path) -> str:
    """Lay ``folder`` out as huggingface_hub would after downloading ``repo``.

    Blobs are named by their etag: sha256 for LFS files (weights), git's blob sha1 otherwise.
    """
    base = cache / f"models--{repo.replace('/', '--')}"
    commit = hashlib.sha1(repo.encode()).hexdigest()
    for p in sorted(folder.rglob("*")):
        if not p.is_file():
            continue
        data = p.read_bytes()
        blob = (hashlib.sha256(data).hexdigest() if p.suffix == ".safetensors"
                else hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
        (base / "blobs").mkdir(parents=True, exist_ok=True)
        (base / "blobs" / blob).write_bytes(data)
        link = base / "snapshots" / commit / p.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(base / "blobs" / blob, link.parent))
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(commit)
    return commit


@pytest.fixture(scope="module")
def tiny15() -> Path:
    return ensure_tiny_model("tiny-sd15")


@pytest.fixture(scope="module")
def sd15(tmp_path_factory):
    """One loaded tiny SD 1.5 pipeline shared by the tests that only generate."""
    project = make(tmp_path_factory.mktemp("shared"), {"m": 'source = "builtin:tiny-sd15"'})
    gen = DiffusersGenerator()
    gen.identify(project.models["m"], project)
    return gen, project, gen.load(project.models["m"], project)


@pytest.fixture(scope="module")
def reference(sd15) -> bytes:
    """The builtin tiny SD 1.5's image for ``job()``: what other sources must reproduce."""
    gen, project, pipe = sd15
    return pixels(generate(gen, pipe, project, job()))


@pytest.fixture
def hf_cache(tmp_path, monkeypatch, tiny15) -> Path:
    cache = tmp_path / "hf"
    fake_hub_cache(cache, "acme/tiny-sd15", tiny15)
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return cache


# -- registration and planning -----------------------------------------------------------------
def test_plugin_registers_the_generator_with_package_metadata():
    from importlib import metadata

    [gen] = register_generators()
    assert isinstance(gen, DiffusersGenerator) and gen.name == "diffusers"
    assert gen.version == metadata.version("assetforge-diffusers")
    eps = metadata.entry_points(group="assetforge", name="diffusers")
    assert [ep.value for ep in eps] == ["assetforge_diffusers.plugin"]
    assert {"default", "euler", "euler_a", "ddim", "dpmpp_2m", "dpmpp_2m_karras",
            "unipc"} <= set(gen.schedulers)


@pytest.mark.parametrize("source, ours", [
    ("builtin:tiny-sd15", True), ("builtin:tiny-sd99", True), ("builtin:other", False),
    ("models/x.safetensors", True), ("models/x.ckpt", True), ("x.pt", True), ("x.bin", True),
    ("stabilityai/stable-diffusion-xl-base-1.0", True), ("org/name@v1.0", True),
    ("./missing-folder", True), ("onnx:models/x", False), ("https://example.com/x", False),
])
def test_handles(source, ours, tmp_path):
    model = ModelConfig("m", source, {}, Location(tmp_path / "assetforge.toml", 3))
    assert DiffusersGenerator().handles(model) is ours


def test_identify_is_torch_free_and_stable_across_processes(tmp_path, tiny15):
    shutil.copytree(tiny15, tmp_path / "copy")
    write_safetensors(tmp_path / "one.safetensors", ["model.diffusion_model.out.2.weight"])
    fake_hub_cache(tmp_path / "hf", "acme/tiny-sd15", tiny15)
    project = make(tmp_path / "p", {
        "builtin": 'source = "builtin:tiny-sdxl"', "folder": f'source = "{tmp_path / "copy"}"',
        "file": f'source = "{tmp_path / "one.safetensors"}"', "hub": 'source = "acme/tiny-sd15"'})
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from assetforge.project import load_project
        from assetforge_diffusers.plugin import register_generators
        [gen] = register_generators()
        project = load_project(Path(sys.argv[1]))
        ids = {{n: list(gen.identify(m, project).__dict__.values())
               for n, m in project.models.items()}}
        loaded = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print(json.dumps({{"ids": ids, "loaded": loaded}}))
    """)
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    runs = [json.loads(subprocess.run([sys.executable, "-c", script, str(project.root)],
                                      env=env, capture_output=True, text=True,
                                      check=True).stdout) for _ in range(2)]
    assert runs[0]["loaded"] == []
    assert runs[0]["ids"] == runs[1]["ids"]
    ids = runs[0]["ids"]
    assert {n: v[1] for n, v in ids.items()} == {"builtin": "sdxl", "folder": "sd15",
                                                 "file": "sd15", "hub": "sd15"}
    for digest, _family, short in ids.values():
        assert digest.startswith("sha256:") and len(digest) == 71 and short == digest[7:17]
    # A hub snapshot is identified like a copy of the same files on disk.
    assert ids["hub"][0] == ids["folder"][0]


def test_plugin_import_does_not_import_torch():
    code = ("import sys, assetforge_diffusers.plugin; "
            f"print([m for m in {HEAVY!r} if m in sys.modules])")
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert not any(f"| {m}" in line for m in HEAVY for line in out.stderr.splitlines())


def test_recipe_fields_record_dtype_and_scheduler_not_device(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSETFORGE_DTYPE", raising=False)
    monkeypatch.delenv("ASSETFORGE_DEVICE", raising=False)
    gen = DiffusersGenerator()
    p = make(tmp_path / "a", {"m": 'source = "builtin:tiny-sd15"'},
             '[generation]\ndevice = "cpu"\n')
    ident = gen.identify(p.models["m"], p)
    fields = gen.recipe_fields(job(scheduler="dpmpp_2m_karras"), ident)
    assert fields["dtype"] == "float32"
    assert fields["scheduler_class"] == "DPMSolverMultistepScheduler"
    assert fields["scheduler_config"]["use_karras_sigmas"] is True
    assert "device" not in json.dumps(fields)
    assert gen.recipe_fields(job(scheduler="dpmpp_2m"), ident)["scheduler_config"][
        "use_karras_sigmas"] is False
    # dtype changes bytes, so a different dtype is a different recipe.
    q = make(tmp_path / "b", {"m": 'source = "builtin:tiny-sd15"'},
             '[generation]\ndtype = "bfloat16"\n')
    assert gen.recipe_fields(job(), gen.identify(q.models["m"], q))["dtype"] == "bfloat16"
    monkeypatch.setenv("ASSETFORGE_DTYPE", "float16")
    assert gen.recipe_fields(job(), ident, p)["dtype"] == "float16"


@pytest.mark.parametrize("device, dtype", [("cpu", "float32"), ("cuda", "float16"),
                                           ("cuda:1", "float16"), ("mps", "float32")])
def test_auto_dtype_follows_the_device_without_torch(tmp_path, monkeypatch, device, dtype):
    monkeypatch.delenv("ASSETFORGE_DTYPE", raising=False)
    monkeypatch.setenv("ASSETFORGE_DEVICE", device)
    p = make(tmp_path, {"m": 'source = "builtin:tiny-sd15"'})
    assert runtime.resolve(p) == runtime.Runtime(device, dtype, False)


def test_bad_device_and_dtype_name_their_setting(tmp_path, monkeypatch):
    monkeypatch.delenv("ASSETFORGE_DEVICE", raising=False)
    monkeypatch.delenv("ASSETFORGE_DTYPE", raising=False)
    p = make(tmp_path / "a", {"m": 'source = "builtin:tiny-sd15"'},
             '[generation]\ndtype = "fp8"\n')
    with pytest.raises(UserError, match=r"assetforge.toml:\d+: generation.dtype: unknown"):
        runtime.resolve(p)
    monkeypatch.setenv("ASSETFORGE_DEVICE", "gpu")
    with pytest.raises(UserError, match="generation.device: .*ASSETFORGE_DEVICE"):
        runtime.resolve(p)


def test_configured_cuda_without_cuda_is_refused_at_load(tmp_path, monkeypatch):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("ASSETFORGE_DEVICE", "cuda")
    p = make(tmp_path, {"m": 'source = "builtin:tiny-sd15"'})
    with pytest.raises(UserError, match='device cuda is configured.*device = "cpu"'):
        DiffusersGenerator().load(p.models["m"], p)


def test_schedulers_valid_per_family():
    gen = DiffusersGenerator()
    assert gen.validate_scheduler("dpmpp_2m", "sdxl") is None
    assert gen.validate_scheduler("euler", "sd3") is None
    assert "flow matching" in gen.validate_scheduler("dpmpp_2m", "sd3")
    assert "did you mean 'euler_a'" in gen.validate_scheduler("euler-a", "sd15")
    with pytest.raises(UserError, match="a.toml:4: scheduler: .*does not work with sd3"):
        gen.recipe_fields(job(scheduler="ddim"), gen_identity("sd3"))


def gen_identity(family: str):
    from assetforge.interfaces import ModelIdentity

    return ModelIdentity("sha256:" + "0" * 64, family, "0" * 10)


# -- generation --------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["tiny-sd15", "tiny-sdxl", "tiny-sd3"])
def test_each_family_generates_the_requested_size(tmp_path, name):
    p = make(tmp_path, {"m": f'source = "builtin:{name}"'})
    gen = DiffusersGenerator()
    gen.identify(p.models["m"], p)
    pipe = gen.load(p.models["m"], p)
    assert gen.device_of(pipe) == "cpu"
    j = job(width=64, height=96)
    ctx = GenerationContext(p, j, {}, pipe, gen.name)
    img = gen.generate(pipe, j, ctx)
    assert img.size == (64, 96) and img.mode == "RGB"
    assert np.asarray(img).std() > 1  # an image, not a blank
    assert ctx.metrics["dtype"] == "float32"


def test_sd3_runs_flow_schedulers_and_refuses_others(tmp_path):
    p = make(tmp_path, {"m": 'source = "builtin:tiny-sd3"'})
    gen = DiffusersGenerator()
    gen.identify(p.models["m"], p)
    pipe = gen.load(p.models["m"], p)
    images = {s: pixels(generate(gen, pipe, p, job(scheduler=s))) for s in ("euler", "heun")}
    assert images["euler"] != images["heun"]
    with pytest.raises(UserError, match="does not work with sd3"):
        generate(gen, pipe, p, job(scheduler="dpmpp_2m"))


def test_same_seed_same_bytes_across_fresh_loads_other_seed_differs(tmp_path):
    p = make(tmp_path, {"m": 'source = "builtin:tiny-sd15"'})
    runs = []
    for _ in range(2):
        gen = DiffusersGenerator()
        pipe = gen.load(p.models["m"], p)
        runs.append([pixels(generate(gen, pipe, p, job(seed=s))) for s in (1, 2)])
    assert runs[0] == runs[1]
    assert runs[0][0] != runs[0][1]


def test_every_scheduler_runs_and_changes_the_image(sd15):
    gen, p, pipe = sd15
    # 3 steps: at 2, dpmpp_2m and unipc both reduce to the same first-order update.
    images = {s: pixels(generate(gen, pipe, p, job(scheduler=s, steps=3)))
              for s in gen.schedulers}
    # The tiny model ships an EulerDiscreteScheduler: "euler" rebuilt from its config is it.
    assert images["euler"] == images["default"]
    others = {s: b for s, b in images.items() if s != "default"}
    assert len(set(others.values())) == len(others)


def test_scheduler_state_does_not_leak_between_jobs(sd15):
    gen, p, pipe = sd15
    for name in ("dpmpp_2m", "unipc", "euler_a"):
        first = pixels(generate(gen, pipe, p, job(scheduler=name)))
        generate(gen, pipe, p, job(scheduler="dpmpp_2m_sde", seed=9, steps=3))
        assert pixels(generate(gen, pipe, p, job(scheduler=name))) == first, name


def test_initial_latents_and_run(sd15):
    from assetforge_diffusers.pipeline import initial_latents, run

    gen, p, pipe = sd15
    j = job(scheduler="euler_a")
    lat = initial_latents(pipe, j)
    assert tuple(lat.shape) == (1, 4, 8, 8) and str(lat.device) == "cpu"
    assert pixels(run(pipe, j, latents=lat)) == pixels(run(pipe, j))
    rolled = lat.roll(2, dims=-1)
    assert pixels(run(pipe, j, latents=rolled)) != pixels(run(pipe, j))
    with pytest.raises(ValueError, match="shape"):
        run(pipe, j, latents=lat[..., :4])


def test_size_not_a_multiple_of_8_names_the_key(sd15):
    gen, p, pipe = sd15
    with pytest.raises(UserError, match="a.toml:3: width: 60 is not a multiple of 8"):
        generate(gen, pipe, p, job(width=60))


# -- local folders -----------------------------------------------------------------------------
def test_folder_identity_is_content_based(tmp_path, tiny15):
    a, b = tmp_path / "a", tmp_path / "b"
    shutil.copytree(tiny15, a)
    shutil.copytree(tiny15, b)
    p = make(tmp_path / "p", {"a": f'source = "{a}"', "b": f'source = "{b}"'})
    gen = DiffusersGenerator()
    ida, idb = gen.identify(p.models["a"], p), gen.identify(p.models["b"], p)
    assert ida == idb and ida.family == "sd15"
    # Files load() never reads do not count (nor get refused as pickle) ...
    (b / "README.md").write_text("notes")
    (b / "v1-5-pruned.ckpt").write_bytes(b"not read")
    shutil.copy(b / "unet" / "diffusion_pytorch_model.safetensors",
                b / "unet" / "diffusion_pytorch_model.fp16.safetensors")
    (b / "unet" / "diffusion_flax_model.msgpack").write_bytes(b"flax")
    assert gen.identify(p.models["b"], p) == ida
    # ... every file it reads does.
    cfg = b / "scheduler" / "scheduler_config.json"
    cfg.write_text(cfg.read_text().replace('"steps_offset": 1', '"steps_offset": 0'))
    assert gen.identify(p.models["b"], p).hash != ida.hash


@pytest.mark.parametrize("name, family", [("tiny-sdxl", "sdxl"), ("tiny-sd3", "sd3")])
def test_folder_family_from_model_index(tmp_path, name, family):
    p = make(tmp_path, {"m": f'source = "{ensure_tiny_model(name)}"'})
    assert DiffusersGenerator().identify(p.models["m"], p).family == family


def test_folder_copy_loads_the_same_weights(tmp_path, tiny15, reference):
    shutil.copytree(tiny15, tmp_path / "models" / "sd15")
    p = make(tmp_path, {"m": 'source = "models/sd15"'})  # relative to the project
    gen = DiffusersGenerator()
    gen.identify(p.models["m"], p)
    assert pixels(generate(gen, gen.load(p.models["m"], p), p, job())) == reference


def test_missing_or_broken_folders_name_the_model_table(tmp_path, tiny15):
    (tmp_path / "empty").mkdir()
    partial = tmp_path / "partial"
    shutil.copytree(tiny15, partial)
    (partial / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    p = make(tmp_path, {"gone": 'source = "./nowhere"', "empty": 'source = "empty"',
                        "partial": 'source = "partial"', "bad": 'source = "builtin:tiny-sd5"'})
    gen = DiffusersGenerator()
    cases = {"gone": "no such folder", "empty": "no model_index.json",
             "partial": r"incomplete: missing unet/ weights",
             "bad": "unknown builtin model 'tiny-sd5' .*did you mean 'tiny-sd15'"}
    for name, message in cases.items():
        with pytest.raises(UserError, match=rf"assetforge.toml:\d+: models.{name}.source: "
                                            rf".*{message}"):
            gen.identify(p.models[name], p)


# -- single-file checkpoints -------------------------------------------------------------------
@pytest.mark.parametrize("keys, family", [
    (["model.diffusion_model.input_blocks.0.0.weight"], "sd15"),
    (["model.diffusion_model.x", "cond_stage_model.model.ln_final.weight"], "sd2"),
    (["model.diffusion_model.x", "conditioner.embedders.1.model.ln_final.weight"], "sdxl"),
    (["model.diffusion_model.joint_blocks.0.x_block.attn.qkv.weight"], "sd3"),
])
def test_checkpoint_family_from_safetensors_header(tmp_path, keys, family):
    write_safetensors(tmp_path / "m.safetensors", keys)
    p = make(tmp_path, {"m": 'source = "m.safetensors"'})
    ident = DiffusersGenerator().identify(p.models["m"], p)
    digest = hashlib.sha256((tmp_path / "m.safetensors").read_bytes()).hexdigest()
    assert ident.family == family
    assert ident.hash == f"sha256:{digest}" and ident.short_hash == digest[:10]


def test_unrecognised_checkpoints_are_user_errors(tmp_path):
    write_safetensors(tmp_path / "lora.safetensors", ["lora_unet_down.alpha"])
    (tmp_path / "junk.safetensors").write_bytes(b"\xff" * 64)
    p = make(tmp_path, {"lora": 'source = "lora.safetensors"',
                        "junk": 'source = "junk.safetensors"',
                        "forced": 'source = "lora.safetensors"\nfamily = "sdxl"',
                        "typo": 'source = "lora.safetensors"\nfamilly = "sdxl"'})
    gen = DiffusersGenerator()
    with pytest.raises(UserError, match="models.lora.source: .*not look like a Stable Diff"):
        gen.identify(p.models["lora"], p)
    with pytest.raises(UserError, match="models.junk.source: .*not a .safetensors file"):
        gen.identify(p.models["junk"], p)
    assert gen.identify(p.models["forced"], p).family == "sdxl"
    mismatch = make(tmp_path / "q", {"m": 'source = "../lora.safetensors"\nfamily = "sdxl"\n'
                                          f'config = "{ensure_tiny_model("tiny-sd15")}"'})
    with pytest.raises(UserError, match="models.m.config: .* is a sd15 model, but the chec"):
        gen.identify(mismatch.models["m"], mismatch)
    with pytest.raises(UserError, match="models.typo.familly: unknown option.*'family'"):
        gen.identify(p.models["typo"], p)


@pytest.fixture(scope="module")
def checkpoint(tiny15, tmp_path_factory) -> Path:
    from assetforge_diffusers.ldm import export_sd15

    return export_sd15(tiny15, tmp_path_factory.mktemp("ckpt") / "tiny-sd15.safetensors")


def test_single_file_checkpoint_loads_offline_with_a_config_folder(
        tmp_path, tiny15, checkpoint, reference):
    p = make(tmp_path, {"m": f'source = "{checkpoint}"\nconfig = "{tiny15}"'})
    gen = DiffusersGenerator()
    ident = gen.identify(p.models["m"], p)
    file_digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert ident.family == "sd15" and ident.short_hash == file_digest[:10]
    assert ident.hash != f"sha256:{file_digest}"  # the config folder is part of it
    assert pixels(generate(gen, gen.load(p.models["m"], p), p, job())) == reference


def test_single_file_without_config_offline_says_what_to_set(tmp_path, checkpoint,
                                                              monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    p = make(tmp_path, {"m": f'source = "{checkpoint}"'})
    with pytest.raises(UserError, match=r"models.m.source: cannot load .*config = "):
        DiffusersGenerator().load(p.models["m"], p)


def test_pickle_checkpoints_are_refused_unless_allowed(tmp_path, tiny15, checkpoint,
                                                        reference):
    import torch
    from safetensors.torch import load_file

    torch.save({"state_dict": load_file(checkpoint)}, tmp_path / "tiny.ckpt")
    refused = make(tmp_path / "a", {"m": f'source = "{tmp_path / "tiny.ckpt"}"'})
    gen = DiffusersGenerator()
    for call in (gen.identify, gen.load):
        with pytest.raises(UserError, match=r"models.m.source: .*tiny.ckpt: pickle weights"
                                            r".*allow_pickle = true under \[project\] in "
                                            r"assetforge.toml"):
            call(refused.models["m"], refused)
    allowed = make(tmp_path / "b", {"m": f'source = "{tmp_path / "tiny.ckpt"}"\n'
                                         f'config = "{tiny15}"'}, "allow_pickle = true")
    assert gen.identify(allowed.models["m"], allowed).family == "sd15"  # read, not unpickled
    assert pixels(generate(gen, gen.load(allowed.models["m"], allowed), allowed,
                           job())) == reference


def test_folder_with_pickle_weights_is_refused_unless_allowed(tmp_path, tiny15):
    folder = tmp_path / "pickled"
    shutil.copytree(tiny15, folder)
    (folder / "vae" / "diffusion_pytorch_model.safetensors").rename(
        folder / "vae" / "diffusion_pytorch_model.bin")
    p = make(tmp_path, {"m": 'source = "pickled"'})
    with pytest.raises(UserError, match=r"vae/diffusion_pytorch_model.bin: pickle weights"):
        DiffusersGenerator().identify(p.models["m"], p)


# -- hub ids -----------------------------------------------------------------------------------
def test_hub_id_resolves_from_the_cache_without_rereading_weights(hf_cache, tmp_path, tiny15,
                                                                  monkeypatch):
    commit = (hf_cache / "models--acme--tiny-sd15" / "refs" / "main").read_text()
    p = make(tmp_path / "p", {"main": 'source = "acme/tiny-sd15"',
                              "pinned": f'source = "acme/tiny-sd15@{commit}"',
                              "folder": f'source = "{tiny15}"'})
    read: list[str] = []
    hash_file = p.hash_file
    monkeypatch.setattr(p, "hash_file", lambda path: read.append(Path(path).name)
                        or hash_file(path))
    gen = DiffusersGenerator()
    ident = gen.identify(p.models["main"], p)
    assert not [n for n in read if n.endswith(".safetensors")]  # LFS blob names are hashes
    assert ident == gen.identify(p.models["pinned"], p)
    assert ident == gen.identify(p.models["folder"], p)  # same files, same identity
    assert ident.family == "sd15"


def test_hub_id_loads_offline_from_the_cache(hf_cache, tmp_path, reference):
    p = make(tmp_path / "p", {"m": 'source = "acme/tiny-sd15"'})
    gen = DiffusersGenerator()
    gen.identify(p.models["m"], p)
    assert pixels(generate(gen, gen.load(p.models["m"], p), p, job())) == reference


def test_uncached_hub_ids_offline_say_how_to_download(hf_cache, tmp_path):
    blobs = hf_cache / "models--acme--tiny-sd15" / "snapshots"
    p = make(tmp_path / "p", {"other": 'source = "acme/other-model"',
                              "tag": 'source = "acme/tiny-sd15@v2"',
                              "partial": 'source = "acme/tiny-sd15"'})
    gen = DiffusersGenerator()
    with pytest.raises(UserError, match=r"models.other.source: acme/other-model@main is not "
                                        r"in the Hugging Face cache .*hf download "
                                        r"acme/other-model"):
        gen.identify(p.models["other"], p)
    with pytest.raises(UserError, match="acme/tiny-sd15@v2 is not in the Hugging Face cache"):
        gen.identify(p.models["tag"], p)
    next(blobs.glob("*/unet/diffusion_pytorch_model.safetensors")).unlink()
    with pytest.raises(UserError, match="incomplete .*missing unet/ weights"):
        gen.identify(p.models["partial"], p)
    assert hub.cache_dir() == hf_cache


# -- through the engine ------------------------------------------------------------------------
def test_build_on_a_hub_model_matches_the_builtin_pixels(hf_cache, make_project):
    manifest = {"manifests/a.toml": '[texture.floor]\nprompt = "stone floor"\nseed = 3\n'}
    built = {}
    for name, source in (("hub", "acme/tiny-sd15"), ("builtin", "builtin:tiny-sd15")):
        config = ('[project]\nname = "g"\n[models.tiny]\n'
                  f'source = "{source}"\n[kinds.texture]\nwidth = 64\nheight = 64\nsteps = 2\n')
        root = make_project(manifest, config=config, name=name)
        assert build_json(root)["summary"]["built"] == 1
        assert build_json(root)["summary"]["up_to_date"] == 1
        with Image.open(root / "assets" / "textures" / "floor.png") as im:
            built[name] = pixels(im.convert("RGB"))
    assert built["hub"] == built["builtin"]


def test_build_refuses_a_pickle_model_with_a_clear_error(tmp_path, make_project):
    config = '[project]\nname = "g"\n[models.tiny]\nsource = "weights/m.ckpt"\n'
    root = make_project({"manifests/a.toml": '[texture.floor]\nprompt = "x"\n',
                         "weights/m.ckpt": b"PK-not-even-read"}, config=config)
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert "models.tiny.source" in res.output and "allow_pickle = true" in res.output
    assert "Traceback" not in res.output
