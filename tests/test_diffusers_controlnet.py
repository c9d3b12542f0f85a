"""ControlNet in the diffusers generator: ``control`` keys, ``[controlnets.NAME]`` sources, the
tiny builtin ControlNet, and that nothing leaks into the next asset.

Jobs are built by hand with their ``inputs`` filled in, as the core's asset graph fills them.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import textwrap
from pathlib import Path

import numpy as np
import pytest
from assetforge_diffusers import controlnets, identity, tiny_controlnet, variants
from assetforge_diffusers.generator import DiffusersGenerator
from assetforge_diffusers.ldm import export_controlnet
from assetforge_diffusers.plugin import register_manifest_keys, validate_spec
from helpers import run_cli, unvalidated_specs
from PIL import Image, ImageDraw

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
    [character.hero]
    prompt = "a knight"
    control = { image = "poses/disc.png", model = "pose" }
    views.front = { suffix = "front view", control = { image = "poses/blank.png", model = "pose" } }
    views.back = "back view"
""")  # control on line 3, views.front on line 4


def make(root: Path, model: str = "builtin:tiny-sd15", nets: str = "", extra: str = ""
         ) -> Project:
    root.mkdir(parents=True, exist_ok=True)
    nets = nets or '[controlnets.pose]\nsource = "builtin:tiny-controlnet-sd15"\n'
    (root / "assetforge.toml").write_text(f'[project]\nname = "t"\n{extra}\n[models.m]\n'
                                          f'source = "{model}"\n{nets}')
    poses = root / "poses"
    poses.mkdir(exist_ok=True)
    disc = Image.new("RGB", (64, 64))
    ImageDraw.Draw(disc).ellipse((16, 16, 48, 48), fill="white")
    disc.save(poses / "disc.png")
    Image.new("RGB", (64, 64)).save(poses / "blank.png")
    bar = Image.new("RGB", (64, 64))
    ImageDraw.Draw(bar).rectangle((28, 4, 36, 60), fill="white")
    bar.save(poses / "bar.png")
    return load_project(root)


def ref(root: Path, name: str, rel: str) -> InputRef:
    return InputRef(name, rel, root / rel, file_sha256(root / rel))


def job(root: Path, fields: dict, inputs: dict[str, str] | None = None, *, seed: int = 1,
        view: str | None = None) -> Job:
    spec = AssetSpec("hero", "character", fields, SourceFile(root / "manifests" / "a.toml",
                                                             MANIFEST), frozenset(fields))
    refs = {name: ref(root, name, rel) for name, rel in (inputs or {}).items()}
    return Job("hero", "character", view, "a knight", "", seed, 64, 64, 4, 5.0, "default",
               "m", "characters/hero.png", spec, refs)


def control_job(root: Path, image: str = "poses/disc.png", scale: float | None = None,
                model: str = "pose", **kw) -> Job:
    table = {"image": image, "model": model} | ({} if scale is None else {"scale": scale})
    return job(root, {"control": table}, {"control.0.image": image}, **kw)


def generate(gen: DiffusersGenerator, pipe, project: Project, j: Job) -> bytes:
    img = gen.generate(pipe, j, GenerationContext(project, j, {}, pipe, gen.name))
    assert img.size == (64, 64)
    return img.tobytes()


def loaded(root: Path, model: str = "builtin:tiny-sd15", nets: str = "", extra: str = ""):
    project = make(root, model, nets, extra)
    gen = DiffusersGenerator()
    ident = gen.identify(project.models["m"], project)
    return gen, project, gen.load(project.models["m"], project), ident


def mean_diff(a: bytes, b: bytes) -> float:
    return float(np.abs(np.frombuffer(a, np.uint8).astype(int) - np.frombuffer(b, np.uint8))
                 .mean())


@pytest.fixture(scope="module")
def sd15(tmp_path_factory, one_torch_thread):
    return loaded(tmp_path_factory.mktemp("sd15"))


# -- the tiny ControlNet -----------------------------------------------------------------------
def folder_hash(folder: Path) -> str:
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    return identity.folder_identity(files, lambda rel: file_sha256(folder / rel))


def test_tiny_controlnet_builds_deterministically(tmp_path, one_torch_thread):
    from safetensors.torch import load_file

    for name in ("one", "two"):
        tiny_controlnet.build("tiny-controlnet-sd15", tmp_path / name)
    assert folder_hash(tmp_path / "one") == folder_hash(tmp_path / "two")
    cached = tiny_controlnet.ensure_tiny_controlnet("tiny-controlnet-sd15")
    assert folder_hash(cached) == folder_hash(tmp_path / "one")
    weights = load_file(tmp_path / "one" / "diffusion_pytorch_model.safetensors")
    # The layers from_unet leaves at zero were drawn: the condition can matter.
    for key in ("controlnet_mid_block.weight", "controlnet_down_blocks.0.weight",
                "controlnet_cond_embedding.conv_out.weight"):
        assert float(weights[key].std()) > 0.1, key
    assert (tmp_path / "one" / "config.json").is_file()


# -- generation --------------------------------------------------------------------------------
def test_controlnet_condition_changes_the_image(sd15):
    gen, p, pipe, _ = sd15
    plain = generate(gen, pipe, p, job(p.root, {}))
    disc = generate(gen, pipe, p, control_job(p.root, "poses/disc.png"))
    blank = generate(gen, pipe, p, control_job(p.root, "poses/blank.png"))
    assert mean_diff(disc, blank) > 5  # DESIGN.md measured ~16 grey levels
    assert disc != plain
    assert generate(gen, pipe, p, control_job(p.root, "poses/disc.png")) == disc
    half = generate(gen, pipe, p, control_job(p.root, "poses/disc.png", scale=0.5))
    assert half not in (disc, plain)
    # Scale 0 adds zero residuals: the plain image from the same starting noise.
    assert generate(gen, pipe, p, control_job(p.root, "poses/disc.png", scale=0)) == plain


def test_controlnet_pipeline_shares_components_and_is_cached(sd15):
    gen, p, pipe, _ = sd15
    generate(gen, pipe, p, control_job(p.root))
    net = variants.controlnet(pipe, p, "pose")
    derived = variants.derived(pipe, "StableDiffusionControlNetPipeline", [net])
    assert derived.unet is pipe.unet and derived.vae is pipe.vae and derived.controlnet is net
    assert variants.derived(pipe, "StableDiffusionControlNetPipeline", [net]) is derived
    assert variants.controlnet(pipe, p, "pose") is net


def test_several_controlnets_make_a_multicontrolnet(sd15):
    gen, p, pipe, _ = sd15
    both = {"control": [{"image": "poses/disc.png", "model": "pose"},
                        {"image": "poses/bar.png", "model": "pose", "scale": 0.5}]}
    j = job(p.root, both, {"control.0.image": "poses/disc.png",
                           "control.1.image": "poses/bar.png"})
    two = generate(gen, pipe, p, j)
    assert two != generate(gen, pipe, p, control_job(p.root))
    assert generate(gen, pipe, p, j) == two
    fields = gen.recipe_fields(j, gen.identify(p.models["m"], p))
    assert [(c["scale"], c["image"]) for c in fields["controlnets"]] == [
        (1.0, "control.0.image"), (0.5, "control.1.image")]


def test_control_and_init_image_together(sd15):
    gen, p, pipe, ident = sd15
    fields = {"control": {"image": "poses/disc.png", "model": "pose"},
              "init_image": "poses/bar.png", "strength": 0.5}
    j = job(p.root, fields, {"control.0.image": "poses/disc.png",
                             "init_image": "poses/bar.png"})
    out = generate(gen, pipe, p, j)
    assert out != generate(gen, pipe, p, control_job(p.root))
    assert gen.recipe_fields(j, ident)["pipeline"] == "StableDiffusionControlNetImg2ImgPipeline"


def test_per_view_control_wins_over_the_asset_level(sd15):
    gen, p, pipe, _ = sd15
    views = {"front": {"suffix": "front view",
                       "control": {"image": "poses/blank.png", "model": "pose"}},
             "back": "back view"}
    fields = {"control": {"image": "poses/disc.png", "model": "pose"}, "views": views}
    inputs = {"control.0.image": "poses/disc.png",
              "views.front.control.0.image": "poses/blank.png"}
    front = generate(gen, pipe, p, job(p.root, fields, inputs, view="front"))
    back = generate(gen, pipe, p, job(p.root, fields, inputs, view="back"))
    assert front == generate(gen, pipe, p, control_job(p.root, "poses/blank.png"))
    assert back == generate(gen, pipe, p, control_job(p.root, "poses/disc.png"))
    ident = gen.identify(p.models["m"], p)
    front_fields = gen.recipe_fields(job(p.root, fields, inputs, view="front"), ident)
    assert front_fields["controlnets"][0]["image"] == "views.front.control.0.image"


def test_no_leak_into_the_next_asset(tmp_path, one_torch_thread):
    """Plain and img2img assets after ControlNet assets match being built alone."""
    gen, p, pipe, _ = loaded(tmp_path / "after")
    plain_before = generate(gen, pipe, p, job(p.root, {}, seed=7))
    generate(gen, pipe, p, control_job(p.root, seed=3))
    generate(gen, pipe, p, control_job(p.root, "poses/bar.png", scale=1.5, seed=4))
    after_plain = generate(gen, pipe, p, job(p.root, {}, seed=7))
    init = {"init_image": "poses/disc.png", "strength": 0.5}
    after_init = generate(gen, pipe, p, job(p.root, init, {"init_image": "poses/disc.png"}))
    assert after_plain == plain_before
    gen_a, p_a, pipe_a, _ = loaded(tmp_path / "alone")
    assert generate(gen_a, pipe_a, p_a, job(p_a.root, {}, seed=7)) == after_plain
    assert generate(gen_a, pipe_a, p_a, job(p_a.root, init, {"init_image": "poses/disc.png"})
                    ) == after_init


def test_derived_pipelines_keep_the_loaded_dtype(tmp_path, one_torch_thread):
    """from_pipe casts to float32 unless told the dtype: the shared modules must stay as
    loaded (the recipe promised bfloat16 here), and the ControlNet must match them."""
    import torch

    gen, p, pipe, _ = loaded(tmp_path, extra='[generation]\ndtype = "bfloat16"')
    generate(gen, pipe, p, control_job(p.root))
    generate(gen, pipe, p, job(p.root, {"init_image": "poses/bar.png"},
                               {"init_image": "poses/bar.png"}))
    for module in (pipe.unet, pipe.vae, pipe.text_encoder, variants.controlnet(pipe, p, "pose")):
        assert module.dtype == torch.bfloat16, type(module).__name__


# -- sources -----------------------------------------------------------------------------------
def fake_hub_cache(cache: Path, repo: str, folder: Path) -> None:
    """``folder`` laid out as huggingface_hub leaves a download (blobs named by sha256)."""
    base = cache / f"models--{repo.replace('/', '--')}"
    commit = hashlib.sha1(repo.encode()).hexdigest()
    for p in sorted(folder.iterdir()):
        blob = base / "blobs" / hashlib.sha256(p.read_bytes()).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(p.read_bytes())
        link = base / "snapshots" / commit / p.name
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    (base / "refs").mkdir(exist_ok=True)
    (base / "refs" / "main").write_text(commit)


def test_folder_file_and_hub_sources_load_the_same_weights(tmp_path, sd15, monkeypatch):
    gen, p, pipe, ident = sd15
    reference = generate(gen, pipe, p, control_job(p.root))
    builtin = tiny_controlnet.ensure_tiny_controlnet("tiny-controlnet-sd15")
    shutil.copytree(builtin, tmp_path / "nets" / "pose")
    shutil.copy(builtin / "diffusion_pytorch_model.safetensors", tmp_path / "pose.safetensors")
    export_controlnet(builtin, tmp_path / "pose-a1111.safetensors")  # original layout
    fake_hub_cache(tmp_path / "hf", "acme/tiny-controlnet", builtin)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    sources = {"folder": 'source = "../nets/pose"',
               "file": f'source = "{tmp_path / "pose.safetensors"}"\nconfig = "{builtin}"',
               "original": f'source = "{tmp_path / "pose-a1111.safetensors"}"\n'
                           f'config = "{builtin}"',
               "hub": 'source = "acme/tiny-controlnet"'}
    for kind, body in sources.items():
        q = make(tmp_path / kind, nets=f"[controlnets.pose]\n{body}\n")
        assert gen.identify(q.models["m"], q) == ident
        fields = gen.recipe_fields(control_job(q.root), ident)
        net = controlnets.resolve(q, "pose")
        assert net.family == "sd15"
        if kind in ("folder", "hub"):  # same files, same identity as the builtin's folder
            assert fields["controlnets"][0]["model"] == folder_hash(builtin)
        assert generate(gen, pipe, q, control_job(q.root)) == reference, kind
    # Offline, a single file without its config cannot be loaded: the error says what to set.
    q = make(tmp_path / "noconfig", nets=f'[controlnets.pose]\nsource = '
                                         f'"{tmp_path / "pose-a1111.safetensors"}"\n')
    with pytest.raises(UserError, match=r"controlnets.pose.source: cannot load .*config = "):
        generate(gen, pipe, q, control_job(q.root))


def test_sdxl_controlnet_and_unsupported_families(tmp_path, one_torch_thread):
    from assetforge_diffusers.tiny import ensure_tiny_model
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(ensure_tiny_model("tiny-sdxl") / "unet")
    tiny_controlnet.from_unet(unet).save_pretrained(tmp_path / "xl-net")
    nets = f'[controlnets.pose]\nsource = "{tmp_path / "xl-net"}"\n'
    gen, p, pipe, ident = loaded(tmp_path / "xl", "builtin:tiny-sdxl", nets)
    assert controlnets.resolve(p, "pose").family == "sdxl"
    assert gen.recipe_fields(control_job(p.root), ident)["pipeline"] == \
        "StableDiffusionXLControlNetPipeline"
    plain = generate(gen, pipe, p, job(p.root, {}))
    disc = generate(gen, pipe, p, control_job(p.root))
    assert disc != generate(gen, pipe, p, control_job(p.root, "poses/blank.png"))
    assert generate(gen, pipe, p, job(p.root, {})) == plain
    # An SD 1.5 ControlNet on an SDXL model, and any ControlNet on SD3: clear errors.
    q = make(tmp_path / "mix", "builtin:tiny-sdxl")
    with pytest.raises(UserError, match=r"a.toml:3: control: ControlNet 'pose' is for sd15 "
                                        r"models, but this asset's model is sdxl"):
        gen.recipe_fields(control_job(q.root), gen.identify(q.models["m"], q))
    r = make(tmp_path / "sd3", "builtin:tiny-sd3")
    with pytest.raises(UserError, match=r"a.toml:3: control: ControlNet works with SD 1.x/2.x "
                                        r"and SDXL models; this asset's model is sd3"):
        gen.recipe_fields(control_job(r.root), gen.identify(r.models["m"], r))


# -- recipes -----------------------------------------------------------------------------------
def test_recipe_names_the_controlnet_by_content_with_scale(sd15, tmp_path):
    gen, p, _, ident = sd15
    gen.identify(p.models["m"], p)  # as planning does before making recipes
    fields = gen.recipe_fields(control_job(p.root, scale=0.8), ident)
    assert fields["pipeline"] == "StableDiffusionControlNetPipeline"
    assert fields["controlnets"] == [{
        "model": tiny_controlnet.builtin_identity("tiny-controlnet-sd15"), "scale": 0.8,
        "image": "control.0.image"}]
    assert gen.recipe_fields(control_job(p.root, scale=0.9), ident) != fields
    # The table's name is not part of it: renaming a table rebuilds nothing.
    q = make(tmp_path / "renamed", nets='[controlnets.stick]\nsource = '
                                        '"builtin:tiny-controlnet-sd15"\n')
    gen.identify(q.models["m"], q)
    assert gen.recipe_fields(control_job(q.root, scale=0.8, model="stick"), ident) == fields


# -- errors ------------------------------------------------------------------------------------
def test_control_value_checks():
    check = {k.name: k for k in register_manifest_keys()}["control"]
    assert check.check({"image": "@pose", "model": "pose", "scale": 0.8}) is None
    assert check.inputs([{"image": "a.png", "model": "m"}, {"image": "@b", "model": "m"}]) == [
        ("control.0.image", "a.png"), ("control.1.image", "@b")]
    assert check.inputs({"image": "@hero:front", "model": "m"}) == [
        ("control.0.image", "@hero:front")]
    cases = {
        "control.modle: unknown key (did you mean 'model'?)":
            {"image": "a.png", "modle": "pose"},
        "control.scale: must be between 0 and 2 (got 3)":
            {"image": "a.png", "model": "pose", "scale": 3},
        "control.model: missing": {"image": "a.png"},
        "control[1].image: expected a non-empty string":
            [{"image": "a.png", "model": "m"}, {"image": 3, "model": "m"}],
        "control.scale: expected a number": {"image": "a.png", "model": "m", "scale": True},
    }
    for message, value in cases.items():
        assert (check.check(value) or "").startswith(message), value


def test_unknown_controlnet_names_file_line_and_key(tmp_path):
    make(tmp_path)
    specs = unvalidated_specs(tmp_path, """\
        [texture.wall]
        prompt = "x"
        control = { image = "poses/disc.png", model = "poze" }
    """)
    [problem] = validate_spec(specs["wall"], load_project(tmp_path))
    assert f"{tmp_path}/manifests/game.toml:3: texture.wall.control.0.model: unknown " \
           "ControlNet 'poze' (did you mean 'pose'?); add a [controlnets.poze] table to " \
           "assetforge.toml (known: pose)" == str(problem)


def test_per_view_control_errors_point_into_the_view(tmp_path):
    make(tmp_path)
    spec = AssetSpec("hero", "character", {
        "prompt": "a knight",
        "views": {"front": {"suffix": "front view",
                            "control": {"image": "poses/blank.png", "model": "nope"}}}},
        SourceFile(tmp_path / "a.toml", MANIFEST))
    [problem] = validate_spec(spec, load_project(tmp_path))
    assert str(problem).startswith(f"{tmp_path / 'a.toml'}:4: character.hero.views.front."
                                   "control.0.model: unknown ControlNet 'nope'")


def test_controlnet_tables_are_checked_with_file_and_line(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "net.bin").write_bytes(b"not read")
    (tmp_path / "pickled").mkdir()
    (tmp_path / "pickled" / "config.json").write_text('{"_class_name": "ControlNetModel"}')
    (tmp_path / "pickled" / "diffusion_pytorch_model.bin").write_bytes(b"not read")
    nets = textwrap.dedent("""\
        [controlnets.pickle]
        source = "w/net.bin"
        [controlnets.pickled]
        source = "pickled"
        [controlnets.typo]
        source = "builtin:tiny-controlnet-sd15"
        sorce = "x"
        [controlnets.builtin]
        source = "builtin:tiny-controlnet-sd16"
        [controlnets.gone]
        source = "./nets/none"
        [controlnets.offline]
        source = "acme/no-such-controlnet"
    """)
    p = make(tmp_path, nets=nets)
    lines = (tmp_path / "assetforge.toml").read_text().splitlines()

    def line(text: str) -> int:
        return next(i for i, v in enumerate(lines, 1) if v == text)

    cases = {
        "pickle": (line('source = "w/net.bin"'), "source",
                   "net.bin: pickle weights can run arbitrary code"),
        "pickled": (line('source = "pickled"'), "source",
                    "diffusion_pytorch_model.bin: pickle weights"),
        "typo": (line('sorce = "x"'), "sorce", r"unknown key \(did you mean 'source'\?\)"),
        "builtin": (line('source = "builtin:tiny-controlnet-sd16"'), "source",
                    r"unknown builtin ControlNet 'tiny-controlnet-sd16' \(did you mean"),
        "gone": (line('source = "./nets/none"'), "source", "no such folder"),
        "offline": (line('source = "acme/no-such-controlnet"'), "source",
                    "not in the Hugging Face cache .*no local folder .*HF_HUB_OFFLINE is "
                    "set.*hf download acme/no-such-controlnet"),
    }
    for name, (lineno, key, message) in cases.items():
        with pytest.raises(UserError, match=rf"assetforge.toml:{lineno}: controlnets.{name}."
                                            rf"{key}: .*{message}"):
            controlnets.resolve(p, name)
    allowed = make(tmp_path / "allowed", nets='[controlnets.p]\nsource = "../pickled"\n',
                   extra="allow_pickle = true")
    assert controlnets.resolve(allowed, "p").family == "sd15"


def test_build_with_bad_control_exits_2_with_file_and_line(tmp_path):
    make(tmp_path, nets='[controlnets.pose]\nsource = "nets/x.ckpt"\n')
    (tmp_path / "nets").mkdir()
    (tmp_path / "nets" / "x.ckpt").write_bytes(b"PK-never-read")
    (tmp_path / "manifests").mkdir()
    manifest = tmp_path / "manifests" / "a.toml"
    manifest.write_text('[texture.a]\nprompt = "x"\n'
                        'control = { image = "poses/disc.png", model = "pose", scale = 5 }\n')
    res = run_cli(tmp_path, "build")
    assert res.exit_code == 2 and "Traceback" not in res.output
    assert "a.toml:3: texture.a.control: control.scale: must be between 0 and 2" in res.output
    manifest.write_text('[texture.a]\nprompt = "x"\n'
                        'control = { image = "poses/disc.png", model = "pose" }\n')
    res = run_cli(tmp_path, "build")
    assert res.exit_code == 2 and "Traceback" not in res.output
    lines = (tmp_path / "assetforge.toml").read_text().splitlines()
    lineno = lines.index('source = "nets/x.ckpt"') + 1
    assert f"assetforge.toml:{lineno}: controlnets.pose.source: " in res.output
    assert "x.ckpt: pickle weights" in res.output
    assert not (tmp_path / "assets").exists()
