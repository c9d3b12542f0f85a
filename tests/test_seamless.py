"""Seamless tiling on the real tiny SD 1.5 pipeline: circular padding per axis (translation
equivariance: roll the starting noise, the image rolls), exact restore (also of LoRA-wrapped
convolutions), the conv patch against a reference, the seam score on tiny-model and synthetic
images, the quality check and its bound, the texture default, recipe parts, the SD3 refusal,
and builds through the engine."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from assetforge_seamless import plugin, tiled_axes
from assetforge_seamless.seam import axis_seam, grid_for, seam_metrics, seam_score, seam_scores
from helpers import unvalidated_specs
from PIL import Image

from assetforge.errors import UserError
from assetforge.interfaces import AssetSpec, GenerationContext
from assetforge.project import load_project
from assetforge.recipe import make_jobs

torch = pytest.importorskip("torch")
from assetforge_seamless.padding import (  # noqa: E402 - needs torch
    AxisModes,
    circular_padding,
    denoiser_modules,
    is_patched,
    iter_convs,
)

SIZE = 64
LATENT = SIZE // 8
PROMPT = "a stone wall"


pytestmark = pytest.mark.usefixtures("one_torch_thread")




def load_pipe(folder: Path):
    from diffusers import StableDiffusionPipeline

    p = StableDiffusionPipeline.from_pretrained(folder)
    p.set_progress_bar_config(disable=True)
    return p


@pytest.fixture(scope="module")
def pipe(sd15):
    return load_pipe(sd15)


def noise(seed: int, shift: tuple[int, int] = (0, 0), size: int = SIZE) -> torch.Tensor:
    """Starting latents from a CPU generator, rolled by ``shift`` = (dy, dx) latent pixels.

    The pipeline multiplies ``latents=`` by the scheduler's init_noise_sigma itself
    (``prepare_latents``), exactly as it does for noise it draws.
    """
    gen = torch.Generator("cpu").manual_seed(seed)
    lat = torch.randn((1, 4, size // 8, size // 8), generator=gen)
    return torch.roll(lat, shifts=shift, dims=(2, 3))


def paint(pipe, latents: torch.Tensor, size: int = SIZE) -> np.ndarray:
    """One image, uint8 (H, W, 3). The model's own scheduler (Euler) adds no per-step noise."""
    out = pipe(PROMPT, num_inference_steps=2, guidance_scale=5.0, height=size, width=size,
               latents=latents, output_type="np")
    return (out.images[0] * 255).round().astype(np.uint8)


def patched(pipe, tiling: str):
    axes = tiled_axes(tiling)
    return circular_padding(denoiser_modules(pipe), AxisModes("x" in axes, "y" in axes))


def max_diff(a: np.ndarray, b: np.ndarray) -> int:
    return int(np.abs(a.astype(int) - b.astype(int)).max())


def conv_patches(*models) -> int:
    return sum(is_patched(m) for m in iter_convs(models))


# -- translation equivariance: the strongest test that the output is periodic -----------------

@pytest.mark.parametrize("k", [2, 4])
def test_tiling_both_rolls_with_the_noise(pipe, k):
    """Roll the latents by k (a multiple of the UNet's downsampling) → image rolls by 8k."""
    with patched(pipe, "both"):
        a = paint(pipe, noise(0))
        b = paint(pipe, noise(0, (k, k)))
    assert max_diff(np.roll(a, (8 * k, 8 * k), axis=(0, 1)), b) <= 1


def test_tiling_x_rolls_along_x_only(pipe):
    with patched(pipe, "x"):
        a = paint(pipe, noise(1))
        along_x = paint(pipe, noise(1, (0, 2)))
        along_y = paint(pipe, noise(1, (2, 0)))
    assert max_diff(np.roll(a, 16, axis=1), along_x) <= 1
    # y keeps zero padding: rolling the noise vertically gives a different picture, not a roll.
    off = np.abs(np.roll(a, 16, axis=0).astype(int) - along_y)
    assert off.max() > 40 and off.mean() > 5


def test_sdxl_unet_tiles_too():
    from assetforge_diffusers.tiny import ensure_tiny_model
    from diffusers import StableDiffusionXLPipeline

    xl = StableDiffusionXLPipeline.from_pretrained(ensure_tiny_model("tiny-sdxl"))
    xl.set_progress_bar_config(disable=True)
    with patched(xl, "both"):
        a = paint(xl, noise(5))
        b = paint(xl, noise(5, (2, 4)))
    assert max_diff(np.roll(a, (16, 32), axis=(0, 1)), b) <= 1


def test_untiled_output_does_not_roll(pipe):
    """Control: without the patch the same comparison fails, so the tests above can fail."""
    a = paint(pipe, noise(0))
    b = paint(pipe, noise(0, (2, 2)))
    assert np.abs(np.roll(a, (16, 16), axis=(0, 1)).astype(int) - b).mean() > 5


# -- exact restore -----------------------------------------------------------------------------

def test_layers_are_restored_exactly(pipe):
    before = paint(pipe, noise(2))
    with patched(pipe, "both") as patches:
        assert len(patches) > 40  # every padded conv of the UNet and the VAE
        assert conv_patches(pipe.unet, pipe.vae) == len(patches)
        tiled = paint(pipe, noise(2))
    assert conv_patches(pipe.unet, pipe.vae) == 0
    assert not np.array_equal(before, tiled)
    assert np.array_equal(paint(pipe, noise(2)), before)  # byte-identical after the asset
    with pytest.raises(RuntimeError), patched(pipe, "y"):
        raise RuntimeError("generation failed")
    assert conv_patches(pipe.unet, pipe.vae) == 0


def add_conv_lora(p) -> list:
    """A peft LoRA on the UNet's resnet convolutions (random up weights: it changes the image)."""
    from peft import LoraConfig

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        p.unet.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=["conv1", "conv2"],
                                      init_lora_weights=False))
    wrappers = [m for m in p.unet.modules() if hasattr(m, "base_layer") and hasattr(m, "lora_A")]
    assert wrappers and all(isinstance(w.base_layer, torch.nn.Conv2d) for w in wrappers)
    return wrappers


def test_lora_wrapped_convolutions_are_patched(sd15):
    """peft wraps a targeted Conv2d in a LoraLayer: its base_layer and its lora_A conv (which
    pads like the base) must both wrap around, or the LoRA's contribution has a seam."""
    from assetforge_seamless.padding import patch_convs, restore

    p = load_pipe(sd15)  # its own pipeline: the adapter must not reach other tests
    plain = paint(p, noise(3))
    wrappers = add_conv_lora(p)
    assert not np.array_equal(paint(p, noise(3)), plain)  # the LoRA changes the image
    lora_convs = [w.lora_A["default"] for w in wrappers]

    with patched(p, "both"):
        assert all(is_patched(w.base_layer) and is_patched(w.lora_A["default"])
                   for w in wrappers)
        a = paint(p, noise(3))
        b = paint(p, noise(3, (2, 2)))
    assert max_diff(np.roll(a, (16, 16), axis=(0, 1)), b) <= 1
    assert conv_patches(p.unet, p.vae) == 0

    # Control: with the lora_A convolutions left on zero padding, the seam is back.
    patches = patch_convs([p.unet, p.vae], AxisModes(True, True))
    try:
        restore([q for q in patches if q.module in lora_convs])
        c = paint(p, noise(3, (2, 2)))
    finally:
        restore([q for q in patches if q.module not in lora_convs])
    assert max_diff(np.roll(a, (16, 16), axis=(0, 1)), c) > 1
    assert conv_patches(p.unet, p.vae) == 0


def test_a_lora_loaded_after_patching_is_patched_too(sd15):
    """Plugin contexts enter in registration order: the LoRA plugin may load its adapter after
    the convolutions were patched. The new lora_A convs are patched before the next forward."""
    p = load_pipe(sd15)
    with patched(p, "both") as patches:
        before = len(patches)
        wrappers = add_conv_lora(p)
        a = paint(p, noise(3))
        assert len(patches) == before + len(wrappers)
        assert all(is_patched(w.lora_A["default"]) for w in wrappers)
        b = paint(p, noise(3, (2, 2)))
    assert max_diff(np.roll(a, (16, 16), axis=(0, 1)), b) <= 1
    assert conv_patches(p.unet, p.vae) == 0
    assert not any(m._forward_pre_hooks for m in (p.unet, p.vae, p.vae.decoder))


# -- the patched layers against a reference: conv of the image tiled 3×3 ------------------------

LAYERS = {
    "conv3": lambda: torch.nn.Conv2d(3, 5, 3, padding=1),
    "conv3-stride2": lambda: torch.nn.Conv2d(3, 5, 3, stride=2, padding=1),
    "conv3-dilated-same": lambda: torch.nn.Conv2d(3, 5, 3, padding="same", dilation=2),
    "conv4-same": lambda: torch.nn.Conv2d(3, 5, 4, padding="same"),
    "convT4-stride2": lambda: torch.nn.ConvTranspose2d(3, 5, 4, stride=2, padding=1),
    "convT3-stride2-outpad": lambda: torch.nn.ConvTranspose2d(3, 5, 3, stride=2, padding=1,
                                                              output_padding=1),
}


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("tiling", ["both", "x", "y"])
def test_patched_layer_equals_convolving_the_repeated_image(name, tiling):
    """Circular along an axis = convolve the image repeated 3 times along it, keep the middle.

    The untiled axis keeps the layer's zero padding (the reference pads it the same way)."""
    torch.manual_seed(0)
    conv = LAYERS[name]()
    x = torch.randn(1, 3, 8, 12)
    with torch.no_grad():
        zero_padded = conv(x)
        axes = tiled_axes(tiling)
        ry, rx = (3 if "y" in axes else 1), (3 if "x" in axes else 1)
        ref = conv(x.repeat(1, 1, ry, rx))
        with circular_padding([conv], AxisModes("x" in axes, "y" in axes)):
            out = conv(x)
        h, w = out.shape[-2:]
        assert out.shape == zero_padded.shape
        y0, x0 = (h if ry == 3 else 0), (w if rx == 3 else 0)
        torch.testing.assert_close(out, ref[..., y0:y0 + h, x0:x0 + w], atol=1e-5, rtol=1e-5)
        assert not is_patched(conv) and not conv.__dict__.keys() & {"forward", "_conv_forward"}
        assert torch.equal(conv(x), zero_padded)


def test_patch_keeps_forward_hooks_working():
    """accelerate's offload hooks replace ``forward`` (to move weights in first); the patch
    sits under them, in ``_conv_forward``, so both run."""
    from accelerate.hooks import ModelHook, add_hook_to_module, remove_hook_from_module

    class Count(ModelHook):
        calls = 0

        def pre_forward(self, module, *args, **kwargs):
            Count.calls += 1
            return args, kwargs

    torch.manual_seed(0)
    conv = torch.nn.Conv2d(3, 5, 3, padding=1)
    x = torch.randn(1, 3, 8, 12)
    with torch.no_grad():
        ref = conv(x.repeat(1, 1, 3, 3))[..., 8:16, 12:24]
        add_hook_to_module(conv, Count())
        with circular_padding([conv], AxisModes(True, True)):
            out = conv(x)
        assert Count.calls == 1
        torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
        remove_hook_from_module(conv)
    assert not is_patched(conv)


# -- the seam score ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_images(pipe) -> dict[str, list[np.ndarray]]:
    """Tiny-model images for seeds 0-2: tiled on both axes, on x only, and untiled."""
    out: dict[str, list[np.ndarray]] = {"both": [], "x": [], "none": []}
    for tiling, images in out.items():
        with patched(pipe, tiling) if tiling != "none" else nullcontext():
            images.extend(paint(pipe, noise(seed)) for seed in range(3))
    return out


def periodic_texture(seed: int, size: int = 64, period: int | None = None) -> np.ndarray:
    """Smooth random texture that repeats every ``period`` pixels (low-passed white noise)."""
    period = period or size
    rng = np.random.default_rng(seed)
    f = np.fft.fft2(rng.standard_normal((period, period, 3)), axes=(0, 1))
    k = np.fft.fftfreq(period)[:, None] ** 2 + np.fft.fftfreq(period)[None, :] ** 2
    a = np.real(np.fft.ifft2(f * np.exp(-k * (period / 6) ** 2)[:, :, None], axes=(0, 1)))
    a = (a - a.min()) / (a.max() - a.min()) * 255
    return np.tile(a, (2, 2, 1))[:size, :size].round().astype(np.uint8)


@pytest.mark.parametrize("seed", range(4))
def test_periodic_image_scores_about_one_wherever_the_wrap_falls(seed):
    img = periodic_texture(seed)
    for shift in (0, 5, 21, 40):
        scores = seam_scores(np.roll(img, (shift, 2 * shift), axis=(0, 1)))
        assert all(0.6 < s < 1.6 for s in scores.values()), (shift, scores)


@pytest.mark.parametrize("seed", range(4))
def test_image_with_a_hard_seam_scores_high(seed):
    # A 64 px window of a texture repeating every 96 px: its edges do not meet.
    cut = periodic_texture(seed, size=64, period=96)
    assert seam_score(cut) > 3
    ramp = np.tile(np.linspace(0, 255, 64)[None, :, None], (64, 1, 3)).astype(np.uint8)
    assert axis_seam(ramp, "x").score > 20  # left edge black, right edge white
    assert axis_seam(ramp, "y").score == pytest.approx(1.0)  # every row alike: no seam


def test_tiny_model_tiled_and_untiled_images_are_separated(tiny_images):
    tiled = [axis_seam(a, ax) for a in tiny_images["both"] for ax in ("x", "y")]
    untiled = [axis_seam(a, ax) for a in tiny_images["none"] for ax in ("x", "y")]
    assert max(s.score for s in tiled) < 1.5
    assert min(s.score for s in untiled) > plugin.DEFAULT_MAX_SEAM_SCORE
    # DESIGN.md: on this model the wrap-around step alone does not tell them apart...
    assert max(s.edge for s in untiled) > min(s.edge for s in tiled)
    # ...the low-contrast frame zero padding paints does.
    assert max(s.contrast for s in untiled) < 0.55 < 0.75 < min(s.contrast for s in tiled)


def test_x_tiled_images_score_low_on_x_and_high_on_y(tiny_images):
    for a in tiny_images["x"]:
        assert axis_seam(a, "x").score < 1.5
        assert axis_seam(a, "y").score > plugin.DEFAULT_MAX_SEAM_SCORE


def test_score_inputs_and_grid():
    img = periodic_texture(0)
    as_float = img.astype(np.float32) / 255  # diffusers' output_type="np"
    assert seam_score(img) == pytest.approx(seam_score(as_float), rel=1e-4)
    assert seam_score(Image.fromarray(img)) == pytest.approx(seam_score(img))
    assert seam_score(img[:, :, 0]) > 0  # greyscale
    flat = np.full((64, 64, 3), 128, np.uint8)
    assert seam_score(flat) == 1.0
    assert grid_for(128, 64) == 16 and grid_for(64, 64) == 8 and grid_for(100, 64) == 8
    assert seam_score(img, axes=()) == 1.0
    m = seam_metrics(img, ("x",))
    assert set(m) == {"seam_score", "seam_score_x", "seam_edge_x", "seam_contrast_x"}


# -- hooks: keys, defaults, recipe, context, checks -----------------------------------------------

MANIFEST = """\
[texture.wall]
prompt = "brick wall"

[texture.floor]
prompt = "wooden floor"
tiling = "none"

[tile.grass]
prompt = "grass"
tiling = "x"

[character.hero]
prompt = "a knight"
"""


def specs(root: Path, manifest: str = MANIFEST) -> dict[str, AssetSpec]:
    """AssetSpecs as the core makes them (kind defaults merged), by id."""
    return unvalidated_specs(root, manifest)


def job_of(spec: AssetSpec, project):
    plugin.expand_spec(spec, project)
    return make_jobs(spec, project.seed_salt, "tiny", "textures")[0]


def test_tiling_key_is_declared_and_checked():
    (key,) = plugin.register_manifest_keys()
    assert key.name == "tiling" and key.types == (str,) and key.kinds == ()
    assert all(key.check(v) is None for v in ("none", "x", "y", "both"))
    assert "'both'" in key.check("xy")


def test_textures_default_to_both_unless_told(make_project):
    root = make_project()
    project = load_project(root)
    s = specs(root)
    for spec in s.values():
        plugin.expand_spec(spec, project)
    assert s["wall"].get("tiling") == "both"
    assert s["floor"].get("tiling") == "none"
    assert s["grass"].get("tiling") == "x"
    assert s["hero"].get("tiling") is None
    # [kinds.texture] in assetforge.toml overrides the default (kind defaults merge first).
    from conftest import BASE_CONFIG

    config = BASE_CONFIG.replace("[kinds.texture]\n", '[kinds.texture]\ntiling = "y"\n')
    root2 = make_project(config=config, name="p2")
    wall = specs(root2)["wall"]
    plugin.expand_spec(wall, load_project(root2))
    assert wall.get("tiling") == "y"


def test_recipe_part_only_for_tiled_jobs(make_project):
    root = make_project()
    project = load_project(root)
    s = specs(root)
    parts = {i: plugin.recipe_parts(job_of(spec, project), project) for i, spec in s.items()}
    assert parts["floor"] is None and parts["hero"] is None
    wall, grass = parts["wall"], parts["grass"]
    assert wall.plugin == "seamless" and wall.version == plugin.__version__
    assert wall.params["tiling"] == "both"
    assert wall.params["padding"] == {"x": "circular", "y": "circular"}
    assert grass.params["padding"] == {"x": "circular", "y": "zeros"}


def test_generation_context_patches_and_checks_record_scores(make_project, pipe, sd15):
    root = make_project()
    project = load_project(root)
    s = specs(root)
    job = job_of(s["wall"], project)
    ctx = GenerationContext(project, job, {}, pipe, "diffusers")
    with plugin.generation_context(ctx):
        assert conv_patches(pipe.unet, pipe.vae) == ctx.metrics["seamless_patched_convs"] > 0
        image = Image.fromarray(paint(pipe, noise(4)))
    assert conv_patches(pipe.unet, pipe.vae) == 0
    (check,) = plugin.quality_checks(image, ctx)
    assert check.passed and check.name == "seam"
    assert check.value == ctx.metrics["seam_score"] < 1.5
    assert {"seam_score_x", "seam_score_y", "seam_contrast_x"} <= set(ctx.metrics)

    # The same job painted without the patch: its seam shows, and the check fails it.
    flat = Image.fromarray(paint(pipe, noise(4)))
    ctx2 = GenerationContext(project, job, {}, pipe, "diffusers")
    (check,) = plugin.quality_checks(flat, ctx2)
    assert not check.passed and "max_seam_score 2" in check.message

    # Untiled jobs: no context, no check, no metrics.
    floor = GenerationContext(project, job_of(s["floor"], project), {}, pipe, "diffusers")
    assert plugin.generation_context(floor) is None
    assert plugin.quality_checks(flat, floor) is None and floor.metrics == {}

    # x only: only x is scored.
    grass = GenerationContext(project, job_of(s["grass"], project), {}, pipe, "diffusers")
    plugin.quality_checks(image, grass)
    assert "seam_score_x" in grass.metrics and "seam_score_y" not in grass.metrics


def test_max_seam_score_is_configurable_and_checked(make_project, tiny_images, pipe):
    untiled = Image.fromarray(tiny_images["none"][0])
    for bound, passed in (("10.0", True), ("1", False)):
        root = make_project(extra_config=f"\n[plugins.seamless]\nmax_seam_score = {bound}\n",
                            name=f"b{bound}")
        project = load_project(root)
        job = job_of(specs(root)["wall"], project)
        target = untiled if passed else Image.fromarray(tiny_images["both"][0])
        (check,) = plugin.quality_checks(target, GenerationContext(project, job, {}, pipe, "d"))
        assert check.passed is passed
    root = make_project(extra_config='\n[plugins.seamless]\nmax_seam_score = "low"\n',
                        name="bad")
    project = load_project(root)
    job = job_of(specs(root)["wall"], project)
    with pytest.raises(UserError, match=r"assetforge.toml:\d+: plugins.seamless.max_seam_score"):
        plugin.quality_checks(untiled, GenerationContext(project, job, {}, pipe, "d"))


def test_transformer_models_refuse_tiling(make_project):
    from assetforge_diffusers.tiny import ensure_tiny_model
    from diffusers import StableDiffusion3Pipeline

    sd3 = StableDiffusion3Pipeline.from_pretrained(ensure_tiny_model("tiny-sd3"),
                                                   text_encoder_3=None, tokenizer_3=None)
    root = make_project()
    project = load_project(root)
    s = specs(root)
    job = job_of(s["wall"], project)
    job.model = "sd3"
    with pytest.raises(UserError) as e:
        plugin.generation_context(GenerationContext(project, job, {}, sd3, "diffusers"))
    msg = str(e.value)
    assert "game.toml" in msg and "'wall'" in msg and "'sd3'" in msg and "transformer" in msg
    floor = job_of(s["floor"], project)
    assert plugin.generation_context(GenerationContext(project, floor, {}, sd3, "d")) is None


# -- through the engine ---------------------------------------------------------------------------

E2E = """\
[texture.wall]
prompt = "brick wall"
seed = 7

[texture.floor]
prompt = "wooden floor"
tiling = "none"
seed = 8

[character.hero]
prompt = "a knight"
seed = 9
"""


def records(root: Path) -> dict[str, dict]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        rows = c.execute("SELECT asset_id, status, error, metrics_json, recipe_json "
                         "FROM generations ORDER BY id").fetchall()
    return {r[0]: {"status": r[1], "error": r[2], "metrics": json.loads(r[3] or "{}"),
                   "recipe": json.loads(r[4] or "{}")} for r in rows}


def test_build_tiles_textures_and_leaves_the_rest_alone(make_project):
    from assetforge.engine import build

    root = make_project({"manifests/game.toml": E2E})
    result = build(load_project(root))
    assert {a.id: a.status for a in result.assets} == {"wall": "built", "floor": "built",
                                                       "hero": "built"}
    rec = records(root)
    assert rec["wall"]["recipe"]["plugins"]["seamless"]["params"]["tiling"] == "both"
    assert "seamless" not in rec["floor"]["recipe"]["plugins"]
    assert "seamless" not in rec["hero"]["recipe"]["plugins"]
    assert rec["wall"]["metrics"]["seam_score"] < 1.5
    assert rec["wall"]["metrics"]["seamless_patched_convs"] > 40
    assert "seam_score" not in rec["floor"]["metrics"]
    wall = np.asarray(Image.open(root / "assets" / "textures" / "wall.png").convert("RGB"))
    floor = np.asarray(Image.open(root / "assets" / "textures" / "floor.png").convert("RGB"))
    assert seam_score(wall) < 1.5 < plugin.DEFAULT_MAX_SEAM_SCORE < seam_score(floor)

    # No leak: floor built after the tiled wall is byte-identical to floor built alone.
    floor_only = '[texture.floor]\nprompt = "wooden floor"\ntiling = "none"\nseed = 8\n'
    alone = make_project({"manifests/game.toml": floor_only}, name="alone")
    build(load_project(alone))
    assert ((alone / "assets/textures/floor.png").read_bytes()
            == (root / "assets/textures/floor.png").read_bytes())


def test_untiled_recipes_do_not_change_when_the_plugin_is_installed(make_project, monkeypatch):
    from assetforge.engine import Builder

    manifest = '[texture.wall]\nprompt = "w"\n\n[tile.grass]\nprompt = "g"\n\n' \
               '[character.hero]\nprompt = "h"\n'
    root = make_project({"manifests/game.toml": manifest})

    def keys() -> dict[str, str | None]:
        return {jp.job.asset_id: jp.key for jp in Builder(load_project(root)).plan().jobs()}

    with_plugin = keys()
    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers")  # only core + the generator
    without = keys()
    assert with_plugin["grass"] == without["grass"] and with_plugin["hero"] == without["hero"]
    assert with_plugin["wall"] != without["wall"]  # textures tile by default


def test_build_fails_a_seam_over_the_bound_and_an_sd3_tiled_asset(make_project):
    from conftest import BASE_CONFIG

    from assetforge.engine import build

    config = BASE_CONFIG.replace('seed_salt = "test"\n',
                                 'seed_salt = "test"\ndefault_model = "tiny"\n')
    root = make_project({"manifests/game.toml": E2E + textwrap.dedent("""\
        [texture.sky]
        prompt = "sky"
        model = "sd3"
        scheduler = "euler"
        """)}, config=config, extra_config="""
        [models.sd3]
        source = "builtin:tiny-sd3"

        [plugins.seamless]
        max_seam_score = 1.0
        """)
    result = {a.id: a for a in build(load_project(root)).assets}
    assert result["wall"].status == "failed"
    assert "quality check seam failed" in result["wall"].errors[0]
    assert not (root / "assets" / "textures" / "wall.png").exists()
    assert result["sky"].status == "failed"
    assert "transformer" in result["sky"].errors[0] and "'sky'" in result["sky"].errors[0]
    assert result["floor"].status == "built"
    assert records(root)["wall"]["metrics"]["seam_score"] > 1.0
