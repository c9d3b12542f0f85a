"""Cutout: real alpha from a colour key (exact background and shape, soft and binary edges,
colour bleeding that leaves no halo under bilinear filtering, trim) and from rembg running a
tiny ONNX model built here; the recipe part; manifest errors with file:line; a real build."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from assetforge_cutout import config, plugin
from assetforge_cutout.matte import key_cutout
from helpers import run_cli, unvalidated_specs
from PIL import Image, ImageDraw

from assetforge.interfaces import GenerationContext
from assetforge.project import load_project
from assetforge.recipe import make_jobs

SHAPE = (200, 40, 30)
BACKGROUND = (30, 180, 60)
BOX = (16, 20, 47, 43)  # the drawn ellipse's bounding box, inclusive


def drawn(size: int = 64, scale: int = 1) -> Image.Image:
    """An ellipse on a flat background; ``scale`` > 1 draws it bigger and box-downsamples it,
    which anti-aliases the edge like a generated image's."""
    image = Image.new("RGB", (size * scale, size * scale), BACKGROUND)
    box = [c * scale for c in BOX[:2]] + [(c + 1) * scale - 1 for c in BOX[2:]]
    ImageDraw.Draw(image).ellipse(box, fill=SHAPE)
    return image.resize((size, size), Image.Resampling.BOX) if scale > 1 else image


def shape_mask(image: Image.Image) -> np.ndarray:
    return (np.asarray(image) == SHAPE).all(axis=2)


def context(root: Path, cutout: str, kind: str = "character") -> GenerationContext:
    project = load_project(root)
    spec = unvalidated_specs(root, f'[{kind}.a]\nprompt = "x"\ncutout = {cutout}\n')["a"]
    job = make_jobs(spec, project.seed_salt, "tiny", "characters")[0]
    return GenerationContext(project, job, {}, None, "diffusers")


def cut(root: Path, image: Image.Image, cutout: str) -> tuple[np.ndarray, dict]:
    ctx = context(root, cutout)
    out = plugin.cutout_image(image, ctx)
    assert out.mode == "RGBA"
    return np.asarray(out), ctx.metrics


# -- colour key --------------------------------------------------------------------------------

def test_key_gives_exactly_transparent_background_and_opaque_shape(make_project):
    image = drawn()
    rgba, metrics = cut(make_project(), image, '"key"')
    inside = shape_mask(image)
    assert (rgba[:, :, 3][~inside] == 0).all()
    assert (rgba[:, :, 3][inside] == 255).all()
    assert (rgba[inside][:, :3] == SHAPE).all()  # opaque pixels keep their exact colour
    assert metrics["cutout_background"] == list(BACKGROUND)
    assert metrics["cutout_transparent_fraction"] == pytest.approx((~inside).mean(), abs=1e-4)


def test_background_inside_the_shape_is_not_reached_by_the_flood_fill():
    image = drawn()
    ImageDraw.Draw(image).ellipse([28, 28, 35, 35], fill=BACKGROUND)  # a hole in the shape
    alpha = key_cutout(image, 32, 1, False).rgba[:, :, 3]
    assert (alpha[29:35, 29:35] == 255).all()
    assert alpha[0, 0] == 0


def test_an_image_with_alpha_keeps_its_transparency():
    """A file-sourced PNG that is already partly transparent: its holes stay holes."""
    image = drawn().convert("RGBA")
    ImageDraw.Draw(image).rectangle([30, 30, 33, 33], fill=(0, 0, 0, 0))  # hole in the shape
    ImageDraw.Draw(image).rectangle([0, 0, 63, 1], fill=(0, 0, 0, 0))  # a transparent top edge
    matte = key_cutout(image, 32, 1, False)
    assert matte.info["background"] == list(BACKGROUND)  # from the visible border pixels
    rgba = matte.rgba
    assert (rgba[30:34, 30:34, 3] == 0).all() and (rgba[30:34, 30:34, :3] == SHAPE).all()
    assert (rgba[:2, :, 3] == 0).all() and rgba[40, 5, 3] == 0  # border and background
    assert rgba[25, 32, 3] == 255


def test_tolerance_decides_what_counts_as_background():
    image = drawn()
    ImageDraw.Draw(image).rectangle([0, 0, 5, 5], fill=(50, 180, 60))  # 20 levels off
    assert (key_cutout(image, 32, 1, False).rgba[:3, :3, 3] == 0).all()
    assert (key_cutout(image, 8, 1, False).rgba[:3, :3, 3] == 255).all()


def test_soft_edge_unmixes_the_background_and_binary_rounds_it(make_project):
    root = make_project()
    image = drawn(scale=4)
    soft, _ = cut(root, image, '"key"')
    partial = (soft[:, :, 3] > 0) & (soft[:, :, 3] < 255)
    assert partial.sum() > 20  # an anti-aliased edge keeps fractional alpha
    # The edge's colour is the shape's, with the green background taken out of it.
    assert np.abs(soft[partial][:, :3].astype(int) - SHAPE).max() <= 2
    binary, _ = cut(root, image, "{binary = true}")
    assert set(np.unique(binary[:, :, 3])) == {0, 255}
    assert (binary[:, :, 3][partial] == np.where(soft[:, :, 3][partial] >= 128, 255, 0)).all()
    hard, _ = cut(root, image, "{feather = 0}")
    assert set(np.unique(hard[:, :, 3])) == {0, 255}


def straight_bilinear_half(rgba: np.ndarray) -> np.ndarray:
    """Halve every channel on its own, as a GPU samples a non-premultiplied texture."""
    channels = [np.asarray(Image.fromarray(np.ascontiguousarray(rgba[:, :, c])).resize(
        (rgba.shape[1] // 2, rgba.shape[0] // 2), Image.Resampling.BILINEAR), dtype=int)
        for c in range(4)]
    return np.dstack(channels)


def test_bleeding_leaves_no_dark_fringe_under_bilinear_filtering(make_project):
    rgba, _ = cut(make_project(), drawn(scale=4), '"key"')
    transparent = rgba[:, :, 3] == 0
    # Every transparent pixel carries the shape's colour (the nearest opaque one).
    assert (rgba[transparent][:, :3] == SHAPE).all()
    small = straight_bilinear_half(rgba)
    seen = small[:, :, 3] > 0
    assert np.abs(small[seen][:, :3] - SHAPE).max() <= 2
    # The same cutout with black transparent pixels (no bleeding) shows the dark ring.
    unbled = rgba.copy()
    unbled[transparent, :3] = 0
    dark = straight_bilinear_half(unbled)
    edge = seen & (small[:, :, 3] < 255)
    assert np.abs(dark[edge][:, :3] - SHAPE).max() > 60


def test_trim_crops_to_the_opaque_box_and_records_it(make_project):
    rgba, metrics = cut(make_project(), drawn(), "{trim = true}")
    left, top, right, bottom = BOX[0], BOX[1], BOX[2] + 1, BOX[3] + 1
    assert rgba.shape[:2] == (bottom - top, right - left)
    assert metrics["cutout_trim_box"] == [left, top, right, bottom]
    assert metrics["cutout_untrimmed_size"] == [64, 64]
    alpha = rgba[:, :, 3]
    assert alpha[0].any() and alpha[-1].any() and alpha[:, 0].any() and alpha[:, -1].any()


# -- rembg on a tiny ONNX model ----------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    # onnx and rembg come with the Makefile's set-up (cutout[rembg,testing]): never skipped,
    # so a broken install fails here instead of hiding the rembg tests.
    from assetforge_cutout.testing import build_tiny_u2net

    folder = tmp_path_factory.mktemp("rembg")
    return {"red": build_tiny_u2net(folder / "red.onnx", (4.0, 0.0, -4.0)),
            "blue": build_tiny_u2net(folder / "blue.onnx", (-4.0, 0.0, 4.0))}


def with_model(make_project, tiny_models, name: str = "red") -> Path:
    root = make_project()
    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "m.onnx").write_bytes(tiny_models[name].read_bytes())
    return root


def red_on_blue() -> Image.Image:
    image = Image.new("RGB", (96, 64), (20, 40, 230))
    ImageDraw.Draw(image).rectangle([24, 12, 71, 51], fill=(230, 30, 20))
    return image


def test_rembg_alpha_follows_the_model(make_project, tiny_models):
    root = with_model(make_project, tiny_models)
    rgba, metrics = cut(root, red_on_blue(), '{method = "rembg", model = "models/m.onnx"}')
    alpha = rgba[:, :, 3]
    assert (alpha[16:48, 28:68] >= 250).all()  # red: the model's foreground
    assert (alpha[:, :18] == 0).all() and (alpha[:6] == 0).all()  # blue: background
    transparent = alpha == 0
    assert (rgba[transparent][:, :3] == (230, 30, 20)).all()  # bled from the red square
    # The opposite weights keep the blue instead: the mask is the model's, not a fixed key.
    (root / "models" / "m.onnx").write_bytes(tiny_models["blue"].read_bytes())
    flipped, _ = cut(root, red_on_blue(), '{method = "rembg", model = "models/m.onnx", '
                                          'binary = true}')
    assert (flipped[16:48, 28:68, 3] == 0).all() and (flipped[:, :18, 3] == 255).all()
    assert (flipped[16:48, 28:68, :3] == (20, 40, 230)).all()  # bled from the blue
    assert set(np.unique(flipped[:, :, 3])) == {0, 255}
    assert metrics["cutout_transparent_fraction"] > 0.5


def test_rembg_leaves_no_environment_behind(make_project, tiny_models, monkeypatch):
    monkeypatch.delenv("U2NET_HOME", raising=False)
    root = with_model(make_project, tiny_models)
    cut(root, red_on_blue(), '{method = "rembg", model = "models/m.onnx"}')
    import os

    assert "U2NET_HOME" not in os.environ


# -- recipe ------------------------------------------------------------------------------------

def test_recipe_part_changes_with_every_parameter_and_the_model_file(make_project, tiny_models):
    root = with_model(make_project, tiny_models)

    def params(value: str) -> dict:
        ctx = context(root, value)
        part = plugin.recipe_parts(ctx.job, ctx.project)
        assert part is not None and part.plugin == "cutout"
        return part.params

    base = params('"key"')
    assert base == {"method": "key", "tolerance": 32.0, "feather": 1, "binary": False,
                    "trim": False}
    assert params('{method = "key"}') == base  # the short form means the defaults
    variants = ["{tolerance = 10}", "{feather = 2}", "{binary = true}", "{trim = true}",
                '{method = "rembg", model = "models/m.onnx"}']
    seen = [base] + [params(v) for v in variants]
    assert len({json.dumps(p, sort_keys=True) for p in seen}) == len(seen)
    red = params('{method = "rembg", model = "models/m.onnx"}')
    (root / "models" / "m.onnx").write_bytes(tiny_models["blue"].read_bytes())
    blue = params('{method = "rembg", model = "models/m.onnx"}')
    assert red["model"]["hash"] != blue["model"]["hash"] and red["rembg"]
    ctx = context(root, '"key"')
    ctx.job.spec.fields.pop("cutout")
    assert plugin.recipe_parts(ctx.job, ctx.project) is None


# -- manifest errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, needle, message", [
    ('{ tolerence = 3 }', "tolerence",
     "texture.t.cutout: unknown key 'tolerence' (did you mean 'tolerance'?"),
    ('"chroma"', "chroma", "texture.t.cutout: method: expected one of 'key', 'rembg'"),
    ('{ tolerance = 300 }', "tolerance", "cutout: tolerance: expected a number from 0 to 255"),
    ('{ binary = "yes" }', "binary", "cutout: binary: expected true or false"),
    ('{ feather = 1.5 }', "feather", "cutout: feather: expected an integer from 0 to 16"),
    ('{ method = "rembg" }', "rembg", 'cutout: model: method = "rembg" needs model ='),
    ('{ method = "rembg", model = "m.onnx", tolerance = 3 }', "rembg",
     'cutout: tolerance: only used with method = "key"'),
    ('{ method = "rembg", model = "models/missing.onnx" }', "missing",
     "cutout.model: models/missing.onnx: no such file"),
    ("7", "cutout", "texture.t.cutout: expected a string or a table, got an integer"),
])
def test_manifest_mistakes_are_reported_with_file_and_line(make_project, value, needle,
                                                           message):
    manifest = f'[texture.ok]\nprompt = "fine"\n\n[texture.t]\nprompt = "x"\ncutout = {value}\n'
    root = make_project({"manifests/game.toml": manifest})
    res = run_cli(root, "build", "--dry-run")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    path = root / "manifests" / "game.toml"
    line = next(i for i, text in enumerate(manifest.splitlines(), 1) if needle in text)
    assert any(f"{path}:{line}: " in e and message in e for e in res.stderr.splitlines()), \
        res.stderr


def test_a_kind_default_is_reported_in_assetforge_toml(make_project):
    extra = '\n[kinds.texture.cutout]\nmethod = "rembg"\nmodel = "models/gone.onnx"\n'
    root = make_project({"manifests/game.toml": '[texture.t]\nprompt = "x"\n'},
                        extra_config=extra)
    res = run_cli(root, "build", "--dry-run")
    assert res.exit_code == 2, res.output
    config = root / "assetforge.toml"
    line = config.read_text().splitlines().index("[kinds.texture.cutout]") + 1
    assert f"{config}:{line}: cutout.model: models/gone.onnx: no such file" in res.stderr, \
        res.stderr


def test_parse_defaults():
    assert config.parse("key") == config.CutoutSpec("key")
    assert config.parse({"model": "m.onnx"}) == config.CutoutSpec("rembg", model="m.onnx")


# -- a real build ------------------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.usefixtures("one_torch_thread")
def test_a_built_asset_is_rgba_and_records_its_cutout(make_project):
    root = make_project({"manifests/game.toml": '[character.hero]\nprompt = "a knight"\n'
                                                'cutout = { binary = true, trim = true }\n'})
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    path = root / "assets" / "characters" / "hero.png"
    image = Image.open(io.BytesIO(path.read_bytes()))
    assert image.mode == "RGBA"
    assert set(np.unique(np.asarray(image)[:, :, 3])) <= {0, 255}
    recipe = json.loads(image.text["assetforge-recipe"])["recipe"]
    assert recipe["plugins"]["cutout"]["params"]["trim"] is True
