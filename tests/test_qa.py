"""The ``qa`` plugin: each check fails an image made to fail it and passes one made to pass;
severities (warn keeps the asset, fail fails it), settings errors with file:line, and results
shown by ``build --json`` and ``show``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
from assetforge_qa.plugin import quality_checks
from helpers import run_cli, unvalidated_specs
from PIL import Image, ImageDraw

from assetforge.interfaces import GenerationContext
from assetforge.project import load_project
from assetforge.recipe import make_jobs


def _ctx(root: Path, manifest: str = '[texture.a]\nprompt = "x"\n') -> GenerationContext:
    project = load_project(root)
    spec = unvalidated_specs(root, manifest)["a"]
    (job,) = make_jobs(spec, "", "tiny", "textures")
    return GenerationContext(project, job, {}, None, "test")


def _results(image: Image.Image, ctx: GenerationContext) -> dict[str, tuple[bool, str]]:
    return {r.name: (r.passed, r.severity) for r in quality_checks(image, ctx) or []}


def noise(seed: int, mode: str = "RGB", size: int = 64) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size, size, len(mode)), np.uint8), mode)


def test_blank(make_project):
    ctx = _ctx(make_project())
    assert _results(Image.new("RGB", (64, 64), (90, 90, 90)), ctx)["qa.blank"] == (False, "warn")
    assert _results(noise(1), ctx)["qa.blank"] == (True, "warn")


def test_near_duplicate(make_project):
    root = make_project()
    ctx = _ctx(root)
    other = root / "assets" / "textures" / "other.png"
    other.parent.mkdir(parents=True)
    noise(7).save(other)
    noise(1).save(root / "assets" / "textures" / "a.png")  # its own output: never compared
    shifted = Image.fromarray(np.clip(np.asarray(noise(7), np.int16) + 3, 0, 255)
                              .astype(np.uint8))
    passed, _sev = _results(shifted, ctx)["qa.duplicate"]
    assert not passed  # a few grey levels brighter: still the same picture
    assert _results(noise(8), ctx)["qa.duplicate"][0]
    assert [r.message for r in quality_checks(noise(8), ctx)
            if r.name == "qa.duplicate"] == ["no output within 4 bits"]
    assert "textures/other.png" in [r.message for r in quality_checks(shifted, ctx)
                                    if r.name == "qa.duplicate"][0]


def test_duplicate_index_is_appended_per_output_and_the_folder_walked_once(make_project,
                                                                         monkeypatch):
    """The near-duplicate check keeps its hashes in an index beside the build records: one
    walk of output_dir seeds it, then each judged image is appended, never a walk per asset;
    a deleted output is never reported."""
    import pathlib

    from assetforge_qa import duplicates

    root = make_project()
    (root / ".assetforge").mkdir()
    (root / "assets").mkdir()
    project = load_project(root)
    walks = []
    real_rglob = pathlib.Path.rglob
    monkeypatch.setattr(pathlib.Path, "rglob",
                        lambda self, pattern: walks.append(self) or real_rglob(self, pattern))
    duplicates._INDEXES.clear()
    for i in range(30):
        found = duplicates.nearest(noise(100 + i), project,
                                   project.output_dir / f"textures/n{i}.png", 4)
        assert found is None
        noise(100 + i).save(_made(project.output_dir / f"textures/n{i}.png"))
    assert len(walks) == 1
    log = (root / ".assetforge" / duplicates.INDEX_NAME).read_text().splitlines()
    assert [line.split("\t")[1] for line in log] == [f"textures/n{i}.png" for i in range(30)]
    assert duplicates.nearest(noise(107), project, project.output_dir / "textures/x.png",
                              4) == ("textures/n7.png", 0)
    (project.output_dir / "textures/n7.png").unlink()  # gone: no longer a duplicate
    assert duplicates.nearest(noise(107), project, project.output_dir / "textures/y.png",
                              4) is None
    assert len(walks) == 1


def _made(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_multi_index_finds_every_hash_within_the_radius():
    """Pigeonhole: a hash within r bits agrees with one of r + 1 chunks exactly."""
    import random

    from assetforge_qa.duplicates import PhashIndex

    rng = random.Random(5)
    index = PhashIndex(Path("/nonexistent/log"), Path("/nonexistent"))
    index._size = -1  # in memory only
    for i in range(2000):
        index.hashes[f"h{i}"] = rng.getrandbits(64)
    for radius in (0, 1, 4, 7, 15):
        for _ in range(200):
            name = f"h{rng.randrange(2000)}"
            query = index.hashes[name]
            for bit in rng.sample(range(64), rng.randint(0, radius)):
                query ^= 1 << bit
            near = {n for n, h in index.hashes.items() if (h ^ query).bit_count() <= radius}
            assert name in near
            assert near <= set(index._candidates(query, radius))
        if radius <= 7:  # chunks of 8 bits or more: a few lookups, not a scan
            assert len(index._candidates(rng.getrandbits(64), radius)) < 2000 // 4


def test_cutout(make_project):
    ctx = _ctx(make_project())
    empty = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    empty.putpixel((30, 30), (255, 0, 0, 255))
    full = Image.new("RGBA", (64, 64), (200, 10, 10, 255))
    sprite = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    ImageDraw.Draw(sprite).ellipse((12, 12, 52, 52), fill=(200, 150, 20, 255))
    assert not _results(empty, ctx)["qa.cutout"][0]  # almost nothing opaque
    assert not _results(full, ctx)["qa.cutout"][0]  # opaque border: background kept
    assert _results(sprite, ctx)["qa.cutout"][0]
    assert "qa.cutout" not in _results(noise(1), ctx)  # RGB images are not cutouts


def test_palette(make_project):
    root = make_project(extra_config="\n[plugins.qa.palette]\nmax_colors = 4\nkinds = "
                                     '["texture"]\n')
    ctx = _ctx(root)
    four = Image.new("RGB", (64, 64))
    eight = Image.new("RGB", (64, 64))
    for i in range(8):
        ImageDraw.Draw(eight).rectangle((i * 8, 0, i * 8 + 7, 63), fill=(i * 30, 0, 0))
        ImageDraw.Draw(four).rectangle((i * 8, 0, i * 8 + 7, 63), fill=(i % 4 * 60, 0, 0))
    assert _results(eight, ctx)["qa.palette"][0] is False
    assert _results(four, ctx)["qa.palette"][0] is True
    # An asset's own pixel_art palette is the limit when it has one.
    ctx = _ctx(root, '[texture.a]\nprompt = "x"\npixel_art = {size = 32, colors = 8}\n')
    assert _results(eight, ctx)["qa.palette"][0] is True


def tiny_safety_classifier(folder: Path) -> Path:
    """A two-label ConvNeXt whose 'nsfw' score is ~1 for mostly-red images and ~0 for
    mostly-green ones: the stem maps red and green to two channels, and the layer norms over
    two channels turn their difference into ±1."""
    import torch
    from transformers import (
        ConvNextConfig,
        ConvNextForImageClassification,
        ConvNextImageProcessor,
    )

    cfg = ConvNextConfig(num_channels=3, hidden_sizes=[2], depths=[0], num_stages=1,
                         patch_size=4, image_size=32, num_labels=2,
                         id2label={0: "safe", 1: "nsfw"}, label2id={"safe": 0, "nsfw": 1})
    model = ConvNextForImageClassification(cfg)
    with torch.no_grad():
        for p in model.parameters():
            p.zero_()
        model.convnext.embeddings.patch_embeddings.weight[0, 0] = 1 / 16
        model.convnext.embeddings.patch_embeddings.weight[1, 1] = 1 / 16
        model.convnext.embeddings.layernorm.weight.fill_(1.0)
        model.convnext.layernorm.weight.fill_(1.0)
        model.classifier.weight[:] = torch.tensor([[-4.0, 4.0], [4.0, -4.0]])
    model.save_pretrained(folder, safe_serialization=True)
    ConvNextImageProcessor(size={"shortest_edge": 32}, crop_pct=1.0).save_pretrained(folder)
    return folder


def test_safety_classifier(make_project):
    root = make_project(extra_config='\n[plugins.qa.safety]\nclassifier = "models/nsfw"\n'
                                     "threshold = 0.5\n")
    tiny_safety_classifier(root / "models" / "nsfw")
    ctx = _ctx(root)
    assert _results(Image.new("RGB", (64, 64), (220, 30, 30)), ctx)["qa.safety"] == (False,
                                                                                     "fail")
    assert _results(Image.new("RGB", (64, 64), (30, 200, 40)), ctx)["qa.safety"] == (True,
                                                                                    "fail")
    ctx = _ctx(make_project(name="plain"))  # no classifier configured: no safety check
    assert "qa.safety" not in _results(Image.new("RGB", (64, 64), (220, 30, 30)), ctx)


FLAT_PLUGIN = '''
from PIL import Image
from assetforge.api import ModelIdentity, bytes_hash, hookimpl

class Flat:
    name = "flat"; version = "1.0"; schedulers = ("solid",)
    def handles(self, model): return model.source.startswith("flat:")
    def identify(self, model, project):
        return ModelIdentity(bytes_hash(model.source.encode()), "flat")
    def recipe_fields(self, job, model): return {}
    def validate_scheduler(self, scheduler, family): return None
    def load(self, model, project): return model.source[5:]
    def device_of(self, loaded): return "none"
    def generate(self, loaded, job, ctx):
        return Image.new("RGB", (job.width, job.height), loaded)

@hookimpl
def register_generators():
    return [Flat()]
'''

FLAT_CONFIG = """\
[project]
name = "flat"
output_dir = "assets"
plugins_dir = "plugins"

[models.grey]
source = "flat:grey"

[kinds.texture]
width = 64
height = 64
scheduler = "solid"
tiling = "none"
"""


def test_warn_keeps_the_asset_and_fail_fails_it(make_project):
    root = make_project({"plugins/flat.py": FLAT_PLUGIN,
                         "manifests/a.toml": '[texture.a]\nprompt = "x"\n'}, config=FLAT_CONFIG)
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 0, res.output
    (asset,) = json.loads(res.stdout)["assets"]
    blank = asset["checks"]["a"]["qa.blank"]
    assert asset["status"] == "built" and blank["passed"] is False
    assert blank["severity"] == "warn"
    shown = run_cli(root, "show", "a").output
    assert "check qa.blank: warn  flat image" in shown

    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text() + '\n[plugins.qa.blank]\nseverity = "fail"\n')
    res = run_cli(root, "build", "--json", "--force")
    assert res.exit_code == 1
    (asset,) = json.loads(res.stdout)["assets"]
    assert asset["status"] == "failed"
    assert "quality check qa.blank failed: flat image" in asset["errors"][0]
    assert asset["checks"]["a"]["qa.blank"]["severity"] == "fail"


def test_settings_errors_name_file_and_line(make_project):
    root = make_project({"manifests/a.toml": '[texture.a]\nprompt = "x"\n'},
                        extra_config='\n[plugins.qa.blank]\nseverity = "loud"\n'
                                     "[plugins.qa.blnk]\nmin_std = 3\n")
    lines = (root / "assetforge.toml").read_text().splitlines()
    res = run_cli(root, "build", "--check")
    assert res.exit_code == 2
    loud = lines.index('severity = "loud"') + 1
    assert (f"assetforge.toml:{loud}: "
            "plugins.qa.blank.severity: must be one of fail, warn, off") in res.output
    typo = lines.index("[plugins.qa.blnk]") + 1
    assert (f"assetforge.toml:{typo}: plugins.qa.blnk: "
            "unknown check (did you mean 'blank'?)") in res.output
    assert "Traceback" not in res.output


def tiny_model_with_safety_checker(sd15: Path, folder: Path) -> None:
    """The tiny SD 1.5 folder plus a diffusers ``safety_checker`` of its own, whose concept
    embeddings are a red image's: red images score above the concept threshold (half-way
    between red's and green's similarity to it), green ones below."""
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPTextConfig, CLIPVisionConfig

    shutil.copytree(sd15, folder)
    torch.manual_seed(0)
    small = dict(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=1,
                 projection_dim=8)
    cfg = CLIPConfig(text_config=CLIPTextConfig(**small).to_dict(),
                     vision_config=CLIPVisionConfig(**small, image_size=32,
                                                    patch_size=8).to_dict(), projection_dim=8)
    checker = StableDiffusionSafetyChecker(cfg).eval()
    processor = CLIPImageProcessor(size={"shortest_edge": 32},
                                   crop_size={"height": 32, "width": 32})

    def embed(colour: tuple[int, int, int]) -> torch.Tensor:
        with torch.no_grad():
            pixels = processor(images=Image.new("RGB", (64, 64), colour),
                               return_tensors="pt").pixel_values
            v = checker.visual_projection(checker.vision_model(pixels)[1])[0]
        return v / v.norm()

    red, green = embed((220, 30, 30)), embed((30, 200, 40))
    similarity = float(red @ green)
    assert similarity < 0.99  # the two colours are told apart
    with torch.no_grad():
        checker.concept_embeds[:] = red
        checker.concept_embeds_weights[:] = (1 + similarity) / 2
        checker.special_care_embeds[:] = -red
        checker.special_care_embeds_weights[:] = 2.0
    checker.save_pretrained(folder / "safety_checker")
    processor.save_pretrained(folder / "feature_extractor")


def test_safety_models_own_checker(make_project, sd15):
    from conftest import BASE_CONFIG

    root = make_project(config=BASE_CONFIG.replace('"builtin:tiny-sd15"', '"models/sd15"'),
                        extra_config='\n[plugins.qa.safety]\nclassifier = "model"\n')
    tiny_model_with_safety_checker(sd15, root / "models" / "sd15")
    ctx = _ctx(root)
    assert _results(Image.new("RGB", (64, 64), (220, 30, 30)), ctx)["qa.safety"] == (False,
                                                                                     "fail")
    assert _results(Image.new("RGB", (64, 64), (30, 200, 40)), ctx)["qa.safety"] == (True,
                                                                                    "fail")


def test_phash_is_imagehash_phash():
    """The plugin's phash (a matrix product, no scipy) gives imagehash.phash's bits."""
    import imagehash
    from assetforge_qa.duplicates import phash

    images = [noise(i, mode, size) for i, (mode, size) in
              enumerate([("RGB", 8), ("RGB", 17), ("RGBA", 64), ("RGB", 200)] * 25)]
    images += [noise(7).convert("L"), Image.new("RGB", (64, 64), (90, 90, 90))]
    for im in images:
        assert phash(im) == int(str(imagehash.phash(im.convert("RGB"))), 16)
