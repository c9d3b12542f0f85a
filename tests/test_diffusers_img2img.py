"""img2img in the diffusers generator (``init_image``, ``strength``) on the tiny models.

Jobs are built by hand with their ``inputs`` filled in, as the core's asset graph fills them;
images are compared by their pixel bytes.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest
from assetforge_diffusers import conditions, variants
from assetforge_diffusers.generator import DiffusersGenerator
from assetforge_diffusers.plugin import register_manifest_keys, validate_spec
from helpers import run_cli, unvalidated_specs
from PIL import Image

from assetforge.api import (
    AssetSpec,
    GenerationContext,
    InputRef,
    Job,
    SourceFile,
    UserError,
    file_sha256,
)
from assetforge.project import Project, load_project

MANIFEST = textwrap.dedent("""\
    [texture.wall]
    prompt = "a mossy brick wall"
    init_image = "art/wall.png"
    strength = 0.75
""")  # init_image on line 3, strength on line 4


def make(root: Path, source: str = "builtin:tiny-sd15") -> Project:
    root.mkdir(parents=True, exist_ok=True)
    (root / "assetforge.toml").write_text(f'[project]\nname = "t"\n[models.m]\n'
                                          f'source = "{source}"\n')
    art = root / "art"
    art.mkdir(exist_ok=True)
    rng = np.random.default_rng(7)  # a fixed, busy init image: bricks of random greys
    bricks = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)
    Image.fromarray(bricks).save(art / "wall.png")
    Image.fromarray(bricks[:48, :32]).save(art / "small.png")
    return load_project(root)


def job(root: Path, fields: dict, inputs: dict[str, str] | None = None, *, seed: int = 1,
        steps: int = 4, width: int = 64, height: int = 64) -> Job:
    spec = AssetSpec("wall", "texture", fields, SourceFile(root / "manifests" / "a.toml",
                                                           MANIFEST), frozenset(fields))
    refs = {name: InputRef(name, rel, root / rel, file_sha256(root / rel))
            for name, rel in (inputs or {}).items()}
    return Job("wall", "texture", None, "a mossy brick wall", "", seed, width, height, steps,
               5.0, "default", "m", "textures/wall.png", spec, refs)


def init_job(root: Path, strength: float | None = None, image: str = "art/wall.png",
             **kw) -> Job:
    fields = {"init_image": image} | ({} if strength is None else {"strength": strength})
    return job(root, fields, {"init_image": image}, **kw)


def generate(gen: DiffusersGenerator, pipe, project: Project, j: Job) -> bytes:
    img = gen.generate(pipe, j, GenerationContext(project, j, {}, pipe, gen.name))
    assert img.size == (j.width, j.height) and img.mode == "RGB"
    return img.tobytes()


def loaded(root: Path, source: str):
    project = make(root, source)
    gen = DiffusersGenerator()
    ident = gen.identify(project.models["m"], project)
    return gen, project, gen.load(project.models["m"], project), ident


@pytest.fixture(scope="module")
def sd15(tmp_path_factory, one_torch_thread):
    return loaded(tmp_path_factory.mktemp("sd15"), "builtin:tiny-sd15")


# -- generation --------------------------------------------------------------------------------
def test_img2img_differs_from_txt2img_is_deterministic_and_follows_strength(sd15):
    gen, p, pipe, _ = sd15
    plain = generate(gen, pipe, p, job(p.root, {}))
    first = generate(gen, pipe, p, init_job(p.root))
    assert first != plain
    assert generate(gen, pipe, p, init_job(p.root)) == first  # same seed, same bytes
    assert generate(gen, pipe, p, init_job(p.root, 0.75)) == first  # 0.75 is the default
    low = generate(gen, pipe, p, init_job(p.root, 0.25))
    assert low != first
    # Low strength keeps the init image: closer to its VAE round trip (the tiny VAE is random,
    # so that, not the init image itself, is what an undisturbed start decodes to).
    import torch

    with Image.open(p.root / "art" / "wall.png") as im:
        x = pipe.image_processor.preprocess(im.convert("RGB"))
    with torch.no_grad():
        decoded = pipe.vae.decode(pipe.vae.encode(x).latent_dist.mean).sample
    round_trip = pipe.image_processor.postprocess(decoded, output_type="np")[0] * 255

    def distance(pixels: bytes) -> float:
        image = np.frombuffer(pixels, np.uint8).reshape(64, 64, 3)
        return float(np.abs(image - round_trip).mean())

    assert distance(low) < distance(plain) - 2
    assert generate(gen, pipe, p, init_job(p.root, seed=2)) != first


def test_img2img_shares_the_loaded_components(sd15):
    gen, p, pipe, _ = sd15
    generate(gen, pipe, p, init_job(p.root))
    derived = variants.derived(pipe, "StableDiffusionImg2ImgPipeline", [])
    assert type(derived).__name__ == "StableDiffusionImg2ImgPipeline"
    for name in ("unet", "vae", "text_encoder", "tokenizer"):
        assert getattr(derived, name) is getattr(pipe, name), name  # no second load
    assert variants.derived(pipe, "StableDiffusionImg2ImgPipeline", []) is derived  # cached


def test_init_image_is_resized_to_the_job_size(sd15):
    gen, p, pipe, _ = sd15
    small = generate(gen, pipe, p, init_job(p.root, image="art/small.png"))
    assert len(small) == 64 * 64 * 3
    assert small != generate(gen, pipe, p, init_job(p.root))
    resized = variants.load_image(p.root / "art" / "small.png", 64, 64)
    with Image.open(p.root / "art" / "small.png") as im:
        expected = im.convert("RGB").resize((64, 64), Image.Resampling.LANCZOS)
    assert resized.tobytes() == expected.tobytes()


def test_plain_image_unchanged_after_img2img(sd15):
    gen, p, pipe, _ = sd15
    before = generate(gen, pipe, p, job(p.root, {}, seed=5))
    generate(gen, pipe, p, init_job(p.root, 0.5))
    assert generate(gen, pipe, p, job(p.root, {}, seed=5)) == before


def test_asset_after_img2img_is_byte_identical_to_alone(tmp_path, one_torch_thread):
    alone = loaded(tmp_path / "a", "builtin:tiny-sd15")
    after = loaded(tmp_path / "b", "builtin:tiny-sd15")
    gen, p, pipe, _ = after
    generate(gen, pipe, p, init_job(p.root, 0.6, seed=3))
    gen_a, p_a, pipe_a, _ = alone
    assert generate(gen, pipe, p, job(p.root, {}, seed=4)) == generate(
        gen_a, pipe_a, p_a, job(p_a.root, {}, seed=4))


@pytest.mark.parametrize("name, pipeline", [
    ("tiny-sdxl", "StableDiffusionXLImg2ImgPipeline"),
    ("tiny-sd3", "StableDiffusion3Img2ImgPipeline"),
])
def test_img2img_on_sdxl_and_sd3(tmp_path, one_torch_thread, name, pipeline):
    gen, p, pipe, ident = loaded(tmp_path, f"builtin:{name}")
    plain = generate(gen, pipe, p, job(p.root, {}))
    first = generate(gen, pipe, p, init_job(p.root, 0.5))
    assert first != plain
    assert generate(gen, pipe, p, init_job(p.root, 0.5)) == first
    assert generate(gen, pipe, p, init_job(p.root, 1.0)) != first
    assert gen.recipe_fields(init_job(p.root), ident)["pipeline"] == pipeline
    assert variants.derived(pipe, pipeline, []).vae is pipe.vae
    assert generate(gen, pipe, p, job(p.root, {})) == plain  # nothing leaked


# -- recipes and errors ------------------------------------------------------------------------
def test_recipe_records_strength_and_keeps_txt2img_recipes(sd15):
    gen, p, _, ident = sd15
    plain = gen.recipe_fields(job(p.root, {}), ident)
    assert not {"img2img", "resize", "controlnets"} & set(plain)
    fields = gen.recipe_fields(init_job(p.root), ident)
    assert fields["pipeline"] == "StableDiffusionImg2ImgPipeline"
    assert fields["img2img"] == {"strength": 0.75, "image": "init_image"}
    assert fields["resize"] == conditions.RESIZE
    assert gen.recipe_fields(init_job(p.root, 0.5), ident)["img2img"]["strength"] == 0.5


def test_strength_that_runs_no_step_names_the_key(sd15):
    gen, p, _, ident = sd15
    with pytest.raises(UserError, match=r"a.toml:4: strength: strength 0.2 x 4 steps runs no "
                                        r"denoising step"):
        gen.recipe_fields(init_job(p.root, 0.2), ident)


def test_unresolved_input_is_a_clear_error(sd15):
    gen, p, pipe, _ = sd15
    j = init_job(p.root)
    j.inputs.clear()
    with pytest.raises(UserError, match="a.toml:3: init_image: image input 'init_image' was "
                                        "not resolved"):
        generate(gen, pipe, p, j)


def test_manifest_keys_check_strength_and_name_inputs():
    keys = {k.name: k for k in register_manifest_keys()}
    assert keys["init_image"].inputs("@wall_brick") == [("init_image", "@wall_brick")]
    assert keys["strength"].check(0.5) is None and keys["strength"].check(1) is None
    for bad in (0, 1.5, -0.1):
        assert "greater than 0 and at most 1" in keys["strength"].check(bad)


def test_strength_without_init_image_is_an_error(tmp_path):
    make(tmp_path)
    specs = unvalidated_specs(tmp_path, """\
        [texture.a]
        prompt = "x"
        strength = 0.5

        [texture.b]
        prompt = "y"
        init_image = "art/wall.png"
        strength = 0.5
    """)
    project = load_project(tmp_path)
    [problem] = validate_spec(specs["a"], project)
    assert str(problem).endswith("game.toml:3: texture.a.strength: strength applies to img2img "
                                 "only: set init_image too")
    assert validate_spec(specs["b"], project) is None


def test_bad_strength_through_the_cli_exits_2_with_file_and_line(tmp_path):
    make(tmp_path)
    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "a.toml").write_text(
        '[texture.wall]\nprompt = "x"\ninit_image = "art/wall.png"\nstrength = 1.5\n')
    res = run_cli(tmp_path, "build")
    assert res.exit_code == 2, res.output
    assert "a.toml:4: texture.wall.strength: must be greater than 0 and at most 1" in res.output
    assert "Traceback" not in res.output


def test_view_tables_may_hold_their_own_init_image(sd15):
    gen, p, pipe, ident = sd15
    views = {"front": {"suffix": "front view", "init_image": "art/wall.png", "strength": 0.5},
             "back": "back view"}
    spec = AssetSpec("wall", "texture", {"views": views},
                     SourceFile(p.root / "manifests" / "a.toml", MANIFEST))
    ref = InputRef("views.front.init_image", "art/wall.png", p.root / "art" / "wall.png",
                   file_sha256(p.root / "art" / "wall.png"))
    front = Job("wall", "texture", "front", "a mossy brick wall", "", 1, 64, 64, 4, 5.0,
                "default", "m", "textures/wall.png", spec, {ref.name: ref})
    back = Job("wall", "texture", "back", "a mossy brick wall", "", 1, 64, 64, 4, 5.0,
               "default", "m", "textures/wall.png", spec, {ref.name: ref})
    assert generate(gen, pipe, p, front) == generate(gen, pipe, p, init_job(p.root, 0.5))
    assert generate(gen, pipe, p, back) == generate(gen, pipe, p, job(p.root, {}))
    assert gen.recipe_fields(front, ident)["img2img"] == {"strength": 0.5,
                                                          "image": "views.front.init_image"}
    assert "img2img" not in gen.recipe_fields(back, ident)
    # The asset-level strength of an asset whose views have init images is not an error.
    spec.fields["strength"] = 0.4
    assert validate_spec(spec, p) is None
