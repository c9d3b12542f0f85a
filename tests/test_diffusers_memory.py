"""Memory and compile settings of a [models.NAME] table (plugins/diffusers memory.py, tuning.py):
validation with file:line, the accelerator-needed errors on this CPU-only machine, the seamless +
VAE tiling refusal, recipe-or-record placement, and each CPU-runnable setting's real effect."""

from __future__ import annotations

import importlib.util
import io
import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from helpers import build_json, run_cli
from PIL import Image

CONFIG = """\
[project]
name = "mem"
output_dir = "assets"
seed_salt = "test"

[generation]
device = "cpu"

[models.tiny]
source = "builtin:tiny-sd15"
{keys}

[kinds.texture]
width = {size}
height = {size}
steps = 2
tiling = "none"
"""

TWO = """\
[texture.a]
prompt = "red bricks"
seed = 1

[texture.b]
prompt = "green moss"
seed = 2
"""


def project(make_project, keys: str, size: int = 64, manifest: str = TWO,
            name: str = "p") -> Path:
    return make_project({"manifests/t.toml": manifest},
                        config=CONFIG.format(keys=keys, size=size), name=name)


def line_of(root: Path, text: str) -> int:
    lines = (root / "assetforge.toml").read_text().splitlines()
    return next(i for i, line in enumerate(lines, 1) if line.startswith(text))


def expect_error(root: Path, key: str, *words: str) -> str:
    res = run_cli(root, "build")
    assert res.exit_code == 2, res.output
    line = line_of(root, key.rsplit(".", 1)[-1] + " =")
    prefix = f"error: {root / 'assetforge.toml'}:{line}: {key}: "
    found = [x for x in res.output.splitlines() if x.startswith(prefix)]
    assert found, res.output
    for w in words:
        assert w in found[0], found[0]
    assert not (root / "assets").exists()  # nothing written
    assert "Traceback" not in res.output
    return found[0]


@pytest.mark.parametrize(("keys", "key", "words"), [
    ("batch = 0", "models.tiny.batch", ["integer 1…64"]),
    ('batch = "4"', "models.tiny.batch", ["integer"]),
    ("batch = true", "models.tiny.batch", ["integer"]),
    ('memory = "lowest"', "models.tiny.memory", ["unknown memory mode", "did you mean 'low'",
                                                 "fast, balanced, low"]),
    ('offload = "disk"', "models.tiny.offload", ["none, model, group, sequential"]),
    ('vae_slicing = "yes"', "models.tiny.vae_slicing", ["true or false"]),
    ("vae_tiling = 1", "models.tiny.vae_tiling", ["true or false"]),
    ('layerwise_fp8 = "on"', "models.tiny.layerwise_fp8", ["true or false"]),
    ('compile = "yes"', "models.tiny.compile", ["true or false"]),
    ('quantize = "int3"', "models.tiny.quantize", ["unknown quantization backend"]),
])
def test_bad_values_are_located_errors(make_project, keys, key, words):
    expect_error(project(make_project, keys), key, *words)


@pytest.mark.parametrize(("keys", "key", "words"), [
    ('memory = "balanced"', "models.tiny.memory", ["offload = 'model'", "needs a GPU",
                                                   'memory = "fast"']),
    ('memory = "low"', "models.tiny.memory", ["offload = 'group'", "needs a GPU"]),
    ('offload = "model"', "models.tiny.offload", ["needs a GPU", 'offload = "none"']),
    ('offload = "sequential"', "models.tiny.offload", ["needs a GPU"]),
    ('memory = "fast"\noffload = "group"', "models.tiny.offload", ["needs a GPU"]),
])
def test_accelerator_modes_are_refused_on_a_cpu(make_project, keys, key, words):
    """Never silently ignored: the key that asked for offload, its line, exit 2."""
    expect_error(project(make_project, keys), key, *words)


def test_low_without_offload_runs_on_a_cpu(make_project):
    """An explicit key overrides its mode's value: "low" with offload = "none" keeps the rest."""
    root = project(make_project, 'memory = "low"\noffload = "none"')
    res = run_cli(root, "show", "a", "--json")
    assert res.exit_code == 0, res.output
    generator = json.loads(res.stdout)["jobs"][0]["recipe"]["generator"]
    assert generator["layerwise_fp8"] == "float8_e4m3fn"


@pytest.mark.parametrize(("backend", "package"), [("torchao", "torchao"),
                                                  ("quanto", "optimum")])
def test_quantize_needs_its_package(make_project, backend, package):
    root = project(make_project, f'quantize = "{backend}"')
    if importlib.util.find_spec(package) is None:
        expect_error(root, "models.tiny.quantize", "not installed here")
    else:  # installed: planned, and the backend is in the recipe (it changes the weights)
        res = run_cli(root, "show", "a", "--json")
        assert json.loads(res.stdout)["jobs"][0]["recipe"]["generator"]["quantize"] == backend


def test_bitsandbytes_needs_cuda(make_project):
    root = project(make_project, 'quantize = "bitsandbytes_4bit"')
    expect_error(root, "models.tiny.quantize",
                 "not installed" if importlib.util.find_spec("bitsandbytes") is None
                 else "CUDA")


def test_vae_tiling_with_seamless_tiling_is_refused(make_project):
    manifest = '[texture.wall]\nprompt = "bricks"\ntiling = "both"\n'
    root = project(make_project, "vae_tiling = true", manifest=manifest)
    res = run_cli(root, "build")
    assert res.exit_code == 2, res.output
    where = f"{root / 'manifests' / 't.toml'}:3: tiling: "
    assert where in res.output, res.output
    assert "no longer wraps around" in res.output and "vae_tiling = false" in res.output
    # without seamless tiling the same model is fine
    (root / "manifests" / "t.toml").write_text(manifest.replace('"both"', '"none"'))
    assert run_cli(root, "status").exit_code == 0


def recipe(make_project, keys: str, name: str) -> dict:
    root = project(make_project, keys, name=name)
    res = run_cli(root, "show", "a", "--json")
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout)["jobs"][0]["recipe"]


def test_recipe_or_record(make_project):
    """Pixel-changing settings are in the recipe (only when set: default recipes are as
    before); offload is not, nor vae_slicing for a batch of one."""
    base = recipe(make_project, "", "base")
    assert base["generator"]["batch_size"] == 1
    assert recipe(make_project, "vae_slicing = true", "slicing") == base  # one image: no-op
    in_batch = recipe(make_project, "batch = 2\nvae_slicing = true", "sliced")["generator"]
    assert in_batch == base["generator"] | {"batch_size": 2, "vae_slicing": True}
    assert recipe(make_project, 'memory = "fast"', "fast") == base
    for keys, field, value in [("batch = 4", "batch_size", 4),
                               ("vae_tiling = true", "vae_tiling", True),
                               ("layerwise_fp8 = true", "layerwise_fp8", "float8_e4m3fn"),
                               ("compile = true", "compile", True)]:
        got = recipe(make_project, keys, field)
        assert got["generator"][field] == value
        assert {k: v for k, v in got["generator"].items() if k != field} == {
            k: v for k, v in base["generator"].items() if k != field}


def pixels(root: Path, asset: str) -> np.ndarray:
    data = (root / "assets" / "textures" / f"{asset}.png").read_bytes()
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def metrics(root: Path, asset: str) -> dict:
    con = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        row = con.execute("SELECT metrics_json FROM generations WHERE asset_id = ? "
                          "ORDER BY id DESC", (asset,)).fetchone()
    finally:
        con.close()
    return json.loads(row[0])


def built(make_project, keys: str, name: str, size: int = 64) -> Path:
    root = project(make_project, keys, size=size, name=name)
    out = build_json(root)
    assert out["summary"]["built"] == 2, out
    return root


@pytest.mark.usefixtures("one_torch_thread")
def test_vae_slicing_in_a_batch_is_in_the_recipe_and_regenerates_exactly(make_project):
    """Slicing decodes a batch of 2 one image at a time: the same bits on some CPUs, a grey
    level or so apart on others (kernels by batch shape), so with batch > 1 it is in the recipe
    (the cache never mixes the two) and verify --regenerate remakes a sliced image byte for
    byte. Recorded with each generation either way."""
    plain = built(make_project, "batch = 2", "plain")
    sliced = built(make_project, "batch = 2\nvae_slicing = true", "sliced")
    for a in "ab":
        assert np.abs(pixels(plain, a) - pixels(sliced, a)).max() <= 8  # the same image
    assert metrics(sliced, "a")["memory"]["vae_slicing"] is True
    assert "memory" not in metrics(plain, "a")
    res = run_cli(sliced, "verify", "--regenerate", "--json")
    assert res.exit_code == 0, res.output
    assert {r["job_id"]: r["status"] for r in json.loads(res.stdout)["regenerated"]} == {
        "a": "exact", "b": "exact"}


@pytest.mark.usefixtures("one_torch_thread")
def test_vae_tiling_changes_pixels_past_the_tile_size(make_project):
    """The tiny VAE's tile is 64 px: at 128 px tiled decoding blends tiles (other pixels,
    hence in the recipe); the picture stays the same one."""
    plain = built(make_project, "", "plain", size=128)
    tiled = built(make_project, "vae_tiling = true", "tiled", size=128)
    diff = np.abs(pixels(plain, "a") - pixels(tiled, "a"))
    assert diff.max() > 0
    assert diff.mean() < 16
    assert metrics(tiled, "a")["memory"]["vae_tiling"] is True


@pytest.mark.usefixtures("one_torch_thread")
def test_layerwise_fp8_stores_the_unet_in_float8(make_project):
    import torch

    from assetforge.engine import Builder
    from assetforge.project import load_project

    plain = built(make_project, "", "plain")
    fp8 = built(make_project, "layerwise_fp8 = true", "fp8")
    diff = np.abs(pixels(plain, "a") - pixels(fp8, "a"))
    assert diff.max() > 0  # rounded weights: other pixels, so in the recipe
    assert metrics(fp8, "a")["memory"]["layerwise_fp8"] is True
    builder = Builder(load_project(fp8))
    try:
        jp = next(iter(builder.plan().jobs()))
        pipe = builder.models.get(builder.project, "tiny", jp.generator, jp.model.hash)
        dtypes = {p.dtype for p in pipe.unet.parameters()}
        assert torch.float8_e4m3fn in dtypes
        assert {p.dtype for p in pipe.vae.parameters()} == {torch.float32}
    finally:
        builder.close()


def test_compile_is_regional_and_prepares_lora_hotswap(make_project):
    """compile = true compiles the UNet's repeated blocks once per load (lazily: inductor runs
    at the first image, which a GPU bench measures) and enables LoRA hot-swapping before any
    adapter is loaded; the setting is in the recipe and recorded."""
    from assetforge_diffusers import tuning

    from assetforge.engine import Builder
    from assetforge.project import load_project

    root = project(make_project, "compile = true")
    builder = Builder(load_project(root))
    try:
        jp = next(iter(builder.plan().jobs()))
        assert jp.recipe["generator"]["compile"] is True
        pipe = builder.models.get(builder.project, "tiny", jp.generator, jp.model.hash)
        blocks = [m for m in pipe.unet.modules() if type(m).__name__ == "BasicTransformerBlock"]
        assert blocks and all(m._compiled_call_impl is not None for m in blocks)
        assert pipe.unet._compiled_call_impl is None  # regional: not the whole UNet
        assert pipe.unet._prepare_lora_hotswap_kwargs["target_rank"] == tuning.LORA_HOTSWAP_RANK
        assert tuning.applied(pipe)["compile"] is True
    finally:
        builder.close()
