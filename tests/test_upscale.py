"""Upscaling: the ``upscale`` table, output sizes for lanczos/nearest/model, a real (tiny) ESRGAN
loaded through spandrel from safetensors, tiled inference against untiled, tileable assets that
stay seamless (and a plain resize that would not), the pickle policy, the recipe part, and a
build through the engine."""

from __future__ import annotations

import json
import sqlite3
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from assetforge_seamless.seam import axis_seam, grid_for, seam_score
from assetforge_upscale import config, plugin
from assetforge_upscale.resample import resize
from helpers import unvalidated_specs
from PIL import Image

from assetforge.errors import UserError
from assetforge.interfaces import AssetSpec, GenerationContext
from assetforge.project import load_project
from assetforge.recipe import make_jobs

torch = pytest.importorskip("torch")
pytest.importorskip("spandrel")
from assetforge_upscale.model import load_model, resolve_device, run_tiled  # noqa: E402
from assetforge_upscale.testing import build_tiny_esrgan  # noqa: E402

SIZE = 64


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("upscalers")
    return {"x4": build_tiny_esrgan(d / "esrgan-x4.safetensors", scale=4),
            "x2": build_tiny_esrgan(d / "esrgan-x2.safetensors", scale=2)}


@pytest.fixture(scope="module")
def tiny_images() -> dict[str, list[Image.Image]]:
    """Tiny SD 1.5 images (64 px, 2 steps), seeds 0-2: tiled on both axes, and untiled."""
    from assetforge_diffusers.tiny import ensure_tiny_model
    from assetforge_seamless.padding import AxisModes, circular_padding, denoiser_modules
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(ensure_tiny_model("tiny-sd15"))
    pipe.set_progress_bar_config(disable=True)
    out: dict[str, list[Image.Image]] = {"both": [], "none": []}
    for tiling, images in out.items():
        patch = (circular_padding(denoiser_modules(pipe), AxisModes(True, True))
                 if tiling == "both" else nullcontext())
        with patch:
            for seed in range(3):
                latents = torch.randn((1, 4, SIZE // 8, SIZE // 8),
                                      generator=torch.Generator("cpu").manual_seed(seed))
                images.append(pipe("a stone wall", num_inference_steps=2, guidance_scale=5.0,
                                   height=SIZE, width=SIZE, latents=latents).images[0])
    return out


def specs(root: Path, manifest: str) -> dict[str, AssetSpec]:
    """AssetSpecs as the core makes them (kind defaults merged), expanded by seamless."""
    from assetforge_seamless import plugin as seamless

    project = load_project(root)
    out = unvalidated_specs(root, manifest)
    for spec in out.values():
        seamless.expand_spec(spec, project)
    return out


def context(root: Path, upscale: str, tiling: str = "none") -> GenerationContext:
    """A GenerationContext for a 64 px texture with ``upscale = {…}`` and ``tiling``."""
    project = load_project(root)
    spec = specs(root, f'[texture.t]\nprompt = "x"\nwidth = 64\nheight = 64\n'
                       f'tiling = "{tiling}"\nupscale = {upscale}\n')["t"]
    job = make_jobs(spec, project.seed_salt, "tiny", "textures")[0]
    return GenerationContext(project, job, {}, None, "diffusers")


def with_models(make_project, models, **kw) -> Path:
    root = make_project(**kw)
    for path in models.values():
        (root / "models").mkdir(exist_ok=True)
        (root / "models" / path.name).write_bytes(path.read_bytes())
    return root


def grey(a: Image.Image | np.ndarray) -> np.ndarray:
    return np.asarray(a).astype(int)


# -- the manifest table ----------------------------------------------------------------------

@pytest.mark.parametrize("value, error", [
    ({"factor": 3}, "factor must be 2 or 4"),
    ({"factor": True}, "factor must be 2 or 4"),
    ({"method": "bicubic"}, "method must be one of"),
    ({"method": "model"}, 'needs model = "'),
    ({"method": "lanczos", "model": "m.safetensors"}, "only used with method"),
    ({"facter": 2}, "unknown key 'facter'"),
])
def test_bad_tables_are_reported(value, error):
    (key,) = plugin.register_manifest_keys()
    assert key.name == "upscale" and key.types == (dict,)
    assert error in key.check(value)


def test_table_defaults():
    assert config.parse({}) == config.UpscaleSpec(2, "lanczos", None)
    assert config.parse({"factor": 4, "model": "m.safetensors"}) == config.UpscaleSpec(
        4, "model", "m.safetensors")


def test_settings_are_validated(make_project):
    root = make_project(extra_config="\n[plugins.upscale]\ntile = 128\noverlap = 8\n")
    assert config.settings(load_project(root)) == config.Settings(128, 8)
    root = make_project(extra_config='\n[plugins.upscale]\ntile = "big"\ntiles = 3\n', name="b")
    with pytest.raises(UserError) as e:
        config.settings(load_project(root))
    assert "plugins.upscale.tile: expected an integer" in str(e.value)
    assert "plugins.upscale.tiles: unknown setting" in str(e.value)


def test_device_follows_generation_setting():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


# -- sizes and methods -----------------------------------------------------------------------------

@pytest.mark.parametrize("factor", [2, 4])
@pytest.mark.parametrize("upscale", [
    'method = "lanczos"', 'method = "nearest"', 'model = "models/esrgan-x4.safetensors"',
    'model = "models/esrgan-x2.safetensors"'])
def test_output_is_factor_times_the_input(make_project, models, tiny_images, factor, upscale):
    root = with_models(make_project, models)
    ctx = context(root, f"{{factor = {factor}, {upscale}}}")
    src = tiny_images["none"][0]
    out = plugin.upscale_image(src, ctx)
    assert out.size == (SIZE * factor, SIZE * factor) and out.mode == "RGB"
    assert ctx.metrics["upscale_factor"] == factor
    if "model" in upscale:
        model_scale = 4 if "x4" in upscale else 2
        assert ctx.metrics["upscale_model_scale"] == model_scale
        # A model of another scale runs at its own and is resized to the factor (lanczos).
        assert ctx.metrics.get("upscale_resized_from_scale") == (
            model_scale if model_scale != factor else None)
        # The tiny ESRGAN behaves like an upscaler: close to lanczos, but not equal to it.
        diff = np.abs(grey(out) - grey(resize(src, factor, "lanczos"))).mean()
        assert 1 < diff < 30
    if "nearest" in upscale:
        assert np.array_equal(grey(out)[::factor, ::factor], grey(src))


def test_rgba_keeps_its_alpha(make_project, models, tiny_images):
    root = with_models(make_project, models)
    src = tiny_images["none"][0].convert("RGBA")
    src.putalpha(Image.linear_gradient("L").resize(src.size))
    for upscale in ('method = "lanczos"', 'model = "models/esrgan-x4.safetensors"'):
        out = plugin.upscale_image(src, context(root, f"{{factor = 2, {upscale}}}"))
        assert out.mode == "RGBA" and out.size == (128, 128)
        alpha = grey(out.getchannel("A"))
        assert alpha[0].mean() < 20 and alpha[-1].mean() > 235


def test_tiled_model_upscale_equals_untiled(models, tiny_images):
    model = load_model(models["x4"], "x4", "cpu")
    a = np.concatenate([np.asarray(tiny_images["none"][0]),
                        np.asarray(tiny_images["none"][1])[:, :32]], axis=1)[:48]  # 48 × 96
    x = torch.from_numpy(a.astype(np.float32) / 255).permute(2, 0, 1)[None]
    whole, calls = run_tiled(model, x, tile=512, overlap=16)
    assert calls == 1 and whole.shape[-2:] == (192, 384)
    tiled, calls = run_tiled(model, x, tile=32, overlap=16)
    assert calls == 6
    assert float((tiled - whole).abs().max()) * 255 <= 1.0
    # Control: without overlap every tile sees zero padding at its borders, and it shows.
    bare, _ = run_tiled(model, x, tile=32, overlap=0)
    assert float((bare - whole).abs().max()) * 255 > 5


# -- tileable assets stay seamless ---------------------------------------------------------------

UPSCALES = [(f, u) for f in (2, 4) for u in
            ('method = "lanczos"', 'model = "models/esrgan-x4.safetensors"',
             'model = "models/esrgan-x2.safetensors"')]


@pytest.mark.parametrize("factor, upscale", UPSCALES)
def test_tileable_images_keep_their_seam_score(make_project, models, tiny_images, factor,
                                               upscale):
    root = with_models(make_project, models)
    for image in tiny_images["both"]:
        ctx = context(root, f"{{factor = {factor}, {upscale}}}", tiling="both")
        out = plugin.upscale_image(image, ctx)
        before = ctx.metrics["upscale_seam_score_before"]
        after = ctx.metrics["upscale_seam_score_after"]
        assert before == pytest.approx(seam_score(image), abs=1e-3) and before < 1.5
        assert after == pytest.approx(before, rel=0.10), (before, after)
        # The same upscale without wrap-around padding (an untiled asset) breaks the seam.
        plain_ctx = context(root, f"{{factor = {factor}, {upscale}}}")
        plain = plugin.upscale_image(image, plain_ctx)
        assert "upscale_seam_score_before" not in plain_ctx.metrics  # untiled: not measured
        broken = seam_score(plain, grid=grid_for(plain.width, SIZE))
        assert broken > 1.25 * before, (before, broken)
        assert seam_score(out, grid=grid_for(out.width, SIZE)) == pytest.approx(after, abs=1e-3)


def test_x_tiled_assets_wrap_only_along_x(make_project, tiny_images):
    root = make_project()
    ctx = context(root, "{factor = 2}", tiling="x")
    image = tiny_images["both"][0]
    out = plugin.upscale_image(image, ctx)
    assert set(ctx.metrics) >= {"upscale_seam_score_before", "upscale_seam_score_after"}
    assert ctx.metrics["upscale_seam_score_after"] == pytest.approx(
        ctx.metrics["upscale_seam_score_before"], rel=0.10)
    assert ctx.metrics["upscale_seam_score_before"] == pytest.approx(
        axis_seam(image, "x").score, abs=1e-3)  # only the tiled axis is measured
    # y was not wrapped: the image's top-bottom wrap is broken by the resize.
    assert axis_seam(out, "y", grid=16).score > 1.25 * axis_seam(image, "y").score
    part = plugin.recipe_parts(ctx.job, ctx.project)
    assert part.params["wrap"] == ["x"]


# -- model files: pickles, missing files, the recipe -------------------------------------------

def test_pickled_models_are_refused_unless_allowed(make_project, tmp_path, tiny_images):
    pth = build_tiny_esrgan(tmp_path / "esrgan.pth", scale=4)
    manifest = '[texture.t]\nprompt = "x"\nupscale = {factor = 4, model = "models/esrgan.pth"}\n'
    root = make_project({"models/esrgan.pth": pth.read_bytes()})
    spec = specs(root, manifest)["t"]
    (problem,) = plugin.validate_spec(spec, load_project(root))
    assert problem.key == "upscale.model" and "allow_pickle" in problem.message
    assert str(problem.location).endswith("game.toml:3")
    with pytest.raises(UserError, match="allow_pickle"):
        plugin.recipe_parts(make_jobs(spec, "", "tiny", "textures")[0], load_project(root))

    from conftest import BASE_CONFIG

    config_text = BASE_CONFIG.replace('seed_salt = "test"\n',
                                      'seed_salt = "test"\nallow_pickle = true\n')
    root = make_project({"models/esrgan.pth": pth.read_bytes()}, config=config_text, name="ok")
    assert plugin.validate_spec(specs(root, manifest)["t"], load_project(root)) is None
    ctx = context(root, '{factor = 4, model = "models/esrgan.pth"}')
    assert plugin.upscale_image(tiny_images["none"][0], ctx).size == (256, 256)


def test_missing_and_unknown_model_files(make_project):
    root = make_project({"models/esrgan.onnx": b"onnx"})
    for model, message in (("models/nope.safetensors", "no such file"),
                           ("models/esrgan.onnx", "unsupported model file type '.onnx'")):
        spec = specs(root, f'[texture.t]\nprompt = "x"\nupscale = {{model = "{model}"}}\n')["t"]
        (problem,) = plugin.validate_spec(spec, load_project(root))
        assert message in problem.message


def test_a_file_spandrel_cannot_read_is_a_user_error(make_project, tiny_images):
    from safetensors.torch import save_file

    root = make_project()
    (root / "models").mkdir()
    save_file({"w": torch.zeros(3)}, str(root / "models" / "odd.safetensors"))
    ctx = context(root, '{model = "models/odd.safetensors"}')
    with pytest.raises(UserError, match="does not recognise"):
        plugin.upscale_image(tiny_images["none"][0], ctx)


def test_recipe_part_follows_the_model_file_content(make_project, models, tmp_path):
    root = with_models(make_project, models)
    manifest = ('[texture.t]\nprompt = "x"\nupscale = {factor = 4, model = '
                '"models/esrgan-x4.safetensors"}\n\n[character.c]\nprompt = "y"\n'
                'upscale = {factor = 2}\n\n[tile.n]\nprompt = "z"\n')

    def parts() -> dict:
        project = load_project(root)
        out = {}
        for i, spec in specs(root, manifest).items():
            part = plugin.recipe_parts(make_jobs(spec, "", "tiny", "textures")[0], project)
            out[i] = part.params if part else None
        return out

    first = parts()
    assert first["n"] is None
    assert first["c"] == {"factor": 2, "method": "lanczos"}
    t = first["t"]
    assert t["model"]["hash"] == load_project(root).hash_file(
        root / "models" / "esrgan-x4.safetensors")
    assert t["wrap"] == ["x", "y"] and t["tile"] == config.DEFAULT_TILE
    target = root / "models" / "esrgan-x4.safetensors"
    target.write_bytes(build_tiny_esrgan(tmp_path / "other.safetensors", 4, seed=1).read_bytes())
    changed = parts()["t"]
    assert changed["model"]["hash"] != t["model"]["hash"]
    target.write_bytes(models["x4"].read_bytes())  # the same bytes again: the same part
    assert parts()["t"] == t


# -- through the engine --------------------------------------------------------------------------

def test_build_upscales_a_tileable_texture(make_project, models):
    from assetforge.engine import Builder, build

    root = with_models(make_project, models)
    (root / "manifests").mkdir(exist_ok=True)
    (root / "manifests" / "game.toml").write_text(
        '[texture.wall]\nprompt = "brick wall"\nseed = 7\n'
        'upscale = {factor = 2, model = "models/esrgan-x4.safetensors"}\n\n'
        '[character.hero]\nprompt = "a knight"\nseed = 9\nupscale = {factor = 4}\n')
    result = build(load_project(root))
    assert {a.id: a.status for a in result.assets} == {"wall": "built", "hero": "built"}
    with Image.open(root / "assets" / "textures" / "wall.png") as im:
        assert im.size == (128, 128)
        recipe = json.loads(im.text["assetforge-recipe"])["recipe"]
        wall = im.convert("RGB")
    with Image.open(root / "assets" / "characters" / "hero.png") as im:
        assert im.size == (256, 256)
    part = recipe["plugins"]["upscale"]
    assert part["params"]["model"]["hash"] == load_project(root).hash_file(
        root / "models" / "esrgan-x4.safetensors")
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        metrics = json.loads(c.execute("SELECT metrics_json FROM generations "
                                       "WHERE asset_id='wall'").fetchone()[0])
    assert metrics["upscale_resized_from_scale"] == 4
    assert metrics["upscale_seam_score_after"] == pytest.approx(
        metrics["upscale_seam_score_before"], rel=0.10)
    assert metrics["seam_score"] == pytest.approx(metrics["upscale_seam_score_after"], abs=1e-3)
    assert seam_score(wall, grid=16) < 1.5

    # A new model file makes the texture stale, and only it.
    (root / "models" / "esrgan-x4.safetensors").write_bytes(models["x2"].read_bytes())
    plan = {a.id: a for a in Builder(load_project(root)).check().assets}
    assert plan["wall"].status != "up-to-date" and "upscale" in plan["wall"].reason
    assert plan["hero"].status == "up-to-date"
