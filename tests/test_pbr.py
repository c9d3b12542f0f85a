"""PBR maps: normal-map signs per convention on both axes for drawn height fields, maps of tiled
textures that tile (and clamped ones that show a seam), the derived files and their parameters,
suffixes, the hook, and manifest errors with file:line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from assetforge_pbr import __version__
from assetforge_pbr import plugin as pbr
from helpers import run_cli, unvalidated_specs
from PIL import Image

from assetforge.interfaces import DerivedFile, Job
from assetforge.project import load_project
from assetforge.recipe import make_jobs

SIZE = 64


def grey_image(height: np.ndarray) -> Image.Image:
    """A texture whose luminance is ``height`` (0..1)."""
    g = np.rint(np.clip(height, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(np.dstack([g, g, g]), "RGB")


def jobs(root: Path, manifest: str) -> dict[str, Job]:
    project = load_project(root)
    out = {}
    for spec in unvalidated_specs(root, manifest).values():
        for job in make_jobs(spec, project.seed_salt, "tiny", f"{spec.kind}s"):
            out[job.job_id] = job
    return out


def files(root: Path, manifest: str, job_id: str = "t") -> dict[str, DerivedFile]:
    job = jobs(root, manifest)[job_id]
    return {f.name: f for f in pbr.derived_files(job, load_project(root))}


def make(root: Path, image: Image.Image, extra: str = "", name: str = "normal",
         tiling: str = "none") -> np.ndarray:
    manifest = (f'[texture.t]\nprompt = "x"\ntiling = "{tiling}"\n'
                f'maps = ["normal", "height", "roughness", "ao"]\n{extra}\n')
    file = files(root, manifest)[name]
    return np.asarray(pbr.make_map(image, file, load_project(root))).astype(int)


ys, xs = np.mgrid[0:SIZE, 0:SIZE] / (SIZE - 1)
RAMP_X = grey_image(xs)  # rises to the right
RAMP_DOWN = grey_image(ys)  # rises towards the bottom of the image
BUMP = grey_image(np.exp(-((xs - 0.5) ** 2 + (ys - 0.5) ** 2) / 0.02))


# -- normal map signs --------------------------------------------------------------------------

@pytest.mark.parametrize("convention, up", [("opengl", 1), ("directx", -1)])
def test_ramps_tilt_the_normal_away_from_the_rise(make_project, convention, up):
    root = make_project()
    opts = f'normal = {{ convention = "{convention}" }}'
    n = make(root, RAMP_X, opts)[4:-4, 4:-4]
    assert (n[:, :, 0] < 128 - 5).all()  # rising to +x: the surface faces -x
    assert (n[:, :, 1] == 128).all()
    n = make(root, RAMP_DOWN, opts)[4:-4, 4:-4]
    assert (n[:, :, 0] == 128).all()
    # Rising towards the bottom, the surface faces the top of the image: +Y in OpenGL
    # (green above 128), -Y in DirectX (green below).
    assert (up * (n[:, :, 1] - 128) > 5).all()
    assert (n[:, :, 2] > 128).all()


@pytest.mark.parametrize("convention, up", [("opengl", 1), ("directx", -1)])
def test_a_bump_faces_outwards_on_both_axes(make_project, convention, up):
    n = make(make_project(), BUMP, f'normal = {{ convention = "{convention}" }}')
    c, d = SIZE // 2, 8
    assert n[c, c - d, 0] < 118 and n[c, c + d, 0] > 138  # left side faces left, right right
    assert up * (n[c - d, c, 1] - 128) > 10  # top side faces up (OpenGL green > 128)
    assert up * (n[c + d, c, 1] - 128) < -10
    assert tuple(n[1, 1]) == (128, 128, 255)  # flat: the zero vector is 128


@pytest.mark.parametrize("wrap", [(True, True), (True, False), (False, False)])
def test_normals_in_strips_equal_normals_of_the_whole_height_field(wrap):
    from assetforge_pbr import maps

    rgb = np.random.default_rng(3).integers(0, 256, (70, 50, 3), dtype=np.uint8)
    whole = np.empty((70, 50, 3), dtype=np.uint8)
    maps.encode_normals(*maps.sobel(maps.height_field(rgb, 1.5, False, wrap), wrap), 2.0,
                        "opengl", whole)
    strips = maps.normal_map(rgb, 1.5, False, 2.0, "opengl", wrap, rows=16)
    # Identical wherever no clamped edge is in reach (the blur radius 4 plus the Sobel pixel).
    keep_x = slice(None) if wrap[0] else slice(5, -5)
    keep_y = slice(None) if wrap[1] else slice(5, -5)
    assert (strips[keep_y, keep_x] == whole[keep_y, keep_x]).all()


def test_strength_steepens_the_normals(make_project):
    root = make_project()
    gentle = make(root, RAMP_X, "normal = { strength = 1.0 }")[SIZE // 2, SIZE // 2]
    steep = make(root, RAMP_X, "normal = { strength = 8.0 }")[SIZE // 2, SIZE // 2]
    assert steep[0] < gentle[0] < 128 and steep[2] < gentle[2]


def test_other_maps_follow_the_image(make_project):
    root = make_project()
    height = make(root, RAMP_X, name="height")
    assert height[:, 0].max() == 0 and height[:, -1].min() == 255  # stretched to 0..255
    assert (np.diff(height[SIZE // 2]) >= 0).all()
    inverted = make(root, RAMP_X, "pbr = { invert = true }", name="height")
    assert (inverted == 255 - height).all()
    rough = make(root, RAMP_X, name="roughness")
    assert rough[0, 0] == 255 and rough[0, -1] == round(0.3 * 255)  # dark rough, bright smooth
    pit = np.ones((SIZE, SIZE))
    pit[28:36, 28:36] = 0.0
    ao = make(root, grey_image(pit), name="ao")
    assert ao[32, 32] < 100 and ao[2, 2] == 255  # the pit is occluded, the flat is not


# -- tiling ------------------------------------------------------------------------------------

def periodic_texture() -> Image.Image:
    """A smooth texture that wraps around exactly on both axes (whole periods)."""
    u, v = np.mgrid[0:SIZE, 0:SIZE] * (2 * np.pi / SIZE)
    h = 0.5 + 0.25 * np.sin(3 * v + 0.7) + 0.2 * np.cos(2 * u + 1.3) + 0.05 * np.sin(5 * (u + v))
    return grey_image(h)


def wrap_step(a: np.ndarray, axis: str) -> tuple[float, float]:
    """(mean step from the last column to the first, largest mean step between two interior
    neighbouring columns); ``axis="y"`` looks at rows instead."""
    a = a.astype(float)
    if axis == "y":
        a = a.swapaxes(0, 1)
    interior = np.abs(np.diff(a, axis=1)).mean(axis=0)
    return float(np.abs(a[:, 0] - a[:, -1]).mean()), float(interior.max())


def continuous(a: np.ndarray, axis: str) -> bool:
    """The wrap-around step is no larger than the steps inside the image."""
    wrap, interior = wrap_step(a, axis)
    return wrap <= interior


def rolled(image: Image.Image, dx: int, dy: int) -> Image.Image:
    """The texture moved by (dx, dy) with wrap-around: the same tile, cut elsewhere."""
    return Image.fromarray(np.roll(np.asarray(image), (dy, dx), axis=(0, 1)))


def seam_error(root: Path, texture: Image.Image, name: str, tiling: str, dx: int,
               dy: int) -> int:
    """How far the map of the moved texture is from the moved map (0: the map is the same
    tile wherever the texture is cut, so it tiles exactly)."""
    extra = "pbr = { blur = 2.0 }"
    moved_map = np.roll(make(root, texture, extra, name, tiling), (dy, dx), axis=(0, 1))
    map_of_moved = make(root, rolled(texture, dx, dy), extra, name, tiling)
    return int(np.abs(moved_map - map_of_moved).max())


@pytest.mark.parametrize("name", ["normal", "height", "ao"])
def test_maps_of_a_tiled_texture_tile_and_clamped_ones_show_a_seam(make_project, name):
    root = make_project()
    texture = periodic_texture()
    assert continuous(np.asarray(texture), "x") and continuous(np.asarray(texture), "y")
    tiled = make(root, texture, "pbr = { blur = 2.0 }", name, tiling="both")
    for axis in ("x", "y"):  # the wrap-around step is an ordinary step
        assert continuous(tiled, axis), (axis, wrap_step(tiled, axis))
    assert seam_error(root, texture, name, "both", 23, 17) == 0
    # Clamped at the edges, the map depends on where the tile was cut: a seam.
    assert seam_error(root, texture, name, "none", 23, 0) > 10
    assert seam_error(root, texture, name, "none", 0, 17) > 10


def test_one_tiled_axis_wraps_only_that_axis(make_project):
    root, texture = make_project(), periodic_texture()
    assert seam_error(root, texture, "normal", "x", 23, 0) == 0
    assert seam_error(root, texture, "normal", "x", 0, 17) > 10
    assert seam_error(root, texture, "normal", "y", 0, 17) == 0
    assert seam_error(root, texture, "normal", "y", 23, 0) > 10


# -- derived files -----------------------------------------------------------------------------

def test_files_sit_beside_the_output_with_suffixes(make_project):
    root = make_project(extra_config='\n[plugins.pbr]\nsuffixes = { normal = "_n" }\n')
    manifest = ('[texture.floor]\nprompt = "x"\nmaps = ["normal", "height"]\n\n'
                '[texture.wall]\nprompt = "y"\nmaps = ["ao", "normal"]\n'
                'pbr = { suffixes = { normal = "_nrm", ao = "-occlusion" } }\n\n'
                '[character.hero]\nprompt = "z"\nviews = ["front", "back"]\nmaps = ["normal"]\n\n'
                '[texture.plain]\nprompt = "p"\n')
    by_job = {i: [f.output for f in pbr.derived_files(j, load_project(root))]
              for i, j in jobs(root, manifest).items()}
    assert by_job == {
        "floor": ["textures/floor_n.png", "textures/floor_height.png"],
        "wall": ["textures/wall-occlusion.png", "textures/wall_nrm.png"],
        "hero#front": ["characters/hero_front_n.png"],
        "hero#back": ["characters/hero_back_n.png"],
        "plain": [],
    }


def test_params_hold_everything_that_changes_the_bytes(make_project):
    root = make_project()

    def params(extra: str, tiling: str = "both") -> dict[str, dict]:
        manifest = (f'[texture.t]\nprompt = "x"\ntiling = "{tiling}"\n'
                    f'maps = ["normal", "height", "roughness", "ao"]\n{extra}\n')
        return {n: f.params for n, f in files(root, manifest).items()}

    base = params("")
    assert base["normal"] == {"map": "normal", "blur": 1.0, "invert": False, "strength": 2.0,
                              "convention": "opengl", "wrap": ["x", "y"]}
    # Two maps never share parameters (the recipe has no other place for the map's name).
    assert len({repr(p) for p in base.values()}) == 4
    changes = {
        'normal = { strength = 3.0 }': {"normal"},
        'normal = { convention = "directx" }': {"normal"},
        "pbr = { blur = 0.0 }": {"normal", "height", "ao"},
        "pbr = { invert = true }": {"normal", "height", "ao"},
        "pbr = { roughness = [0.1, 0.9] }": {"roughness"},
        "pbr = { ao_radius = 3.0 }": {"ao"},
        "pbr = { ao_strength = 2.0 }": {"ao"},
        'pbr = { suffixes = { ao = "_occ" } }': set(),  # names the file, not its bytes
    }
    for extra, changed in changes.items():
        now = params(extra)
        assert {n for n in base if now[n] != base[n]} == changed, extra
    untiled = params("", tiling="none")
    assert {n for n in base if untiled[n] != base[n]} == {"normal", "height", "ao"}


def test_make_uses_only_the_params(make_project):
    """The same DerivedFile params give the same bytes; another strength, others."""
    root = make_project()
    project = load_project(root)
    file = DerivedFile("normal", "x.png", {"map": "normal", "blur": 1.0, "invert": False,
                                           "strength": 2.0, "convention": "opengl",
                                           "wrap": []})
    a = pbr.make_map(BUMP, file, project).tobytes()
    assert pbr.make_map(BUMP, file, project).tobytes() == a
    steeper = DerivedFile("normal", "x.png", {**file.params, "strength": 4.0})
    assert pbr.make_map(BUMP, steeper, project).tobytes() != a


def test_hook_register_derived_outputs_pbr_maps(make_project):
    from assetforge.plugins import load_plugins

    root = make_project()
    steps = [s for found in load_plugins(load_project(root)).hook.register_derived_outputs()
             for s in found]
    step = next(s for s in steps if s.name == "pbr")
    assert step.version == __version__
    job = jobs(root, '[texture.t]\nprompt = "x"\nmaps = ["height"]\n')["t"]
    (file,) = step.files(job, load_project(root))
    image = step.make(RAMP_X, file, load_project(root))
    assert file.output == "textures/t_height.png" and image.mode == "L"


# -- manifest errors ---------------------------------------------------------------------------

@pytest.mark.parametrize("line, needle, message", [
    ('maps = ["normals"]', "normals",
     "texture.t.maps: unknown map 'normals' (did you mean 'normal'?)"),
    ('maps = ["normal", "normal"]', "maps", "texture.t.maps: each map may be listed once"),
    ('maps = "normal"', "maps", "texture.t.maps: expected a list, got a string"),
    ('maps = ["normal"]\nnormal = { convention = "dx" }', "convention",
     'texture.t.normal: convention: expected "opengl"'),
    ('maps = ["normal"]\nnormal = { strenght = 2 }', "strenght",
     "texture.t.normal: unknown key 'strenght' (did you mean 'strength'?)"),
    ('maps = ["height"]\nnormal = { strength = 2 }', "strength",
     'normal: normal map options given, but "normal" is not in maps'),
    ('maps = ["ao"]\npbr = { ao_radius = 0 }', "ao_radius",
     "texture.t.pbr: ao_radius: expected a number from 0.5 to 64"),
    ('maps = ["ao"]\npbr = { roughness = [0.9, 0.1] }', "roughness",
     "texture.t.pbr: roughness: expected [low, high]"),
    ('maps = ["ao"]\npbr = { suffixes = { ao = "../x" } }', "suffixes",
     "texture.t.pbr: suffixes.ao: expected 1-40 letters"),
    ('maps = ["ao", "height"]\npbr = { suffixes = { ao = "_height" } }', "suffixes",
     "pbr.suffixes: two maps would share a file name"),
])
def test_manifest_mistakes_are_reported_with_file_and_line(make_project, line, needle,
                                                           message):
    manifest = f'[texture.ok]\nprompt = "fine"\n\n[texture.t]\nprompt = "x"\n{line}\n'
    root = make_project({"manifests/game.toml": manifest})
    res = run_cli(root, "build", "--dry-run")
    assert res.exit_code == 2, res.output
    assert "Traceback" not in res.output
    path = root / "manifests" / "game.toml"
    number = next(i for i, text in enumerate(manifest.splitlines(), 1) if needle in text)
    assert any(f"{path}:{number}: " in e and message in e for e in res.stderr.splitlines()), \
        res.stderr


def test_settings_mistakes_name_assetforge_toml(make_project):
    extra = '\n[plugins.pbr]\nsufixes = { normal = "_n" }\n'
    root = make_project({"manifests/game.toml": '[texture.t]\nprompt = "x"\nmaps = ["normal"]\n'},
                        extra_config=extra)
    res = run_cli(root, "build", "--dry-run")
    assert res.exit_code == 2, res.output
    config = root / "assetforge.toml"
    line = config.read_text().splitlines().index('sufixes = { normal = "_n" }') + 1
    assert (f"{config}:{line}: plugins.pbr.sufixes: unknown setting (did you mean 'suffixes'?)"
            in res.stderr), res.stderr
