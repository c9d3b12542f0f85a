"""LoRA style packs on the real tiny SD 1.5 pipeline: both file formats, weights, bad files,
pickle policy, adapter reuse across assets, no state leaking into the next asset, and the
torch-free side (prompt composition, validation with did-you-mean, style.toml errors)."""

from __future__ import annotations

import os
import pickle
import shutil
import textwrap
import tomllib
from contextlib import nullcontext
from pathlib import Path

import numpy as np
import pytest
from assetforge_lora import adapters, plugin, testing
from assetforge_lora.adapters import Wanted, count_modules, manager_for
from assetforge_lora.packs import load_pack

from assetforge.builtin_kinds import COMMON_DEFAULTS
from assetforge.errors import UserError
from assetforge.interfaces import AssetSpec, GenerationContext, SourceFile
from assetforge.project import load_project
from assetforge.recipe import make_jobs

torch = pytest.importorskip("torch")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- fixtures --------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def loras(sd15, tmp_path_factory) -> dict[str, Path]:
    """One tiny LoRA of each kind, built once (deterministic: fixed seeds)."""
    from assetforge_diffusers.tiny import ensure_tiny_model

    d = tmp_path_factory.mktemp("loras")
    return {
        "peft": testing.save_peft_lora(sd15, d / "peft.safetensors", seed=1),
        "kohya": testing.save_kohya_lora(sd15, d / "kohya.safetensors", seed=1),
        "other": testing.save_peft_lora(sd15, d / "other.safetensors", seed=2),
        "pickle": testing.save_pickle_lora(sd15, d / "kohya.pt", seed=1),
        "sdxl": testing.save_peft_lora(ensure_tiny_model("tiny-sdxl"), d / "xl.safetensors"),
        "sd3": testing.save_foreign_lora(d / "sd3.safetensors"),
    }


@pytest.fixture
def pipe(sd15):
    from diffusers import DiffusionPipeline

    p = DiffusionPipeline.from_pretrained(sd15)
    p.set_progress_bar_config(disable=True)
    return p


def paint(pipe, prompt: str = "a sword", negative: str = "", seed: int = 3) -> np.ndarray:
    out = pipe(prompt, negative_prompt=negative, num_inference_steps=2, height=64, width=64,
               generator=torch.Generator("cpu").manual_seed(seed), output_type="np")
    return (out.images[0] * 255).round().astype(np.uint8)


STYLE = """\
description = "{name} look"
trigger_words = ["{name}word"]
prompt_prefix = "{name} prefix"
prompt_suffix = "{name} suffix"
negative_prompt = "{name} neg"
family = "sd15"
license = "CC0-1.0"

[[lora]]
file = "{file}"
weight = {weight}
"""


def add_pack(root: Path, name: str, lora: Path, weight: float = 1.0, text: str = STYLE) -> Path:
    folder = root / "styles" / name
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(lora, folder / lora.name)
    (folder / "style.toml").write_text(text.format(name=name, file=lora.name, weight=weight))
    return folder


def specs(root: Path, manifest: str) -> list[AssetSpec]:
    """AssetSpecs as the core makes them: kind defaults merged, explicit keys, real lines."""
    project = load_project(root)
    path = root / "manifests" / "game.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    text = textwrap.dedent(manifest)
    path.write_text(text)
    out = []
    for kind, table in tomllib.loads(text).items():
        for asset_id, entry in table.items():
            fields = {**COMMON_DEFAULTS, **project.kind_defaults(kind), **entry}
            out.append(AssetSpec(asset_id, kind, fields, SourceFile(path, text), frozenset(entry)))
    return out


def run(project, pipe, spec: AssetSpec) -> np.ndarray:
    """Expand, then generate inside the plugin's generation_context, as the engine does."""
    plugin.expand_spec(spec, project)
    job = make_jobs(spec, project.seed_salt, "tiny", "textures")[0]
    ctx = GenerationContext(project, job, {}, pipe, "diffusers")
    with plugin.generation_context(ctx) or nullcontext():
        return paint(pipe, job.prompt, job.negative_prompt, job.seed)


def scales(pipe, name: str) -> set[float]:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return {round(m.scaling[name], 6) for m in pipe.unet.modules()
            if isinstance(m, BaseTunerLayer) and name in m.scaling}


# -- loading on a real pipeline -------------------------------------------------------------

def test_peft_and_kohya_formats_load_and_paint_the_same_change(pipe, loras):
    base = paint(pipe)
    mgr = manager_for(pipe)
    for fmt in ("peft", "kohya"):
        mgr.activate(pipe, [Wanted(fmt, loras[fmt], 1.0)], allow_pickle=False, model="tiny")
        assert count_modules(pipe, fmt) == 48  # q, k, v, out of 12 attention blocks
    images = {}
    for fmt in ("peft", "kohya"):
        mgr.activate(pipe, [Wanted(fmt, loras[fmt], 1.0)], allow_pickle=False, model="tiny")
        images[fmt] = paint(pipe)
    assert not np.array_equal(images["peft"], base)
    # Same weights and alpha/rank scale in both formats: the same image, bit for bit.
    assert np.array_equal(images["peft"], images["kohya"])
    assert mgr.loads == 2


def test_adapter_weights_are_honoured(pipe, loras):
    mgr = manager_for(pipe)
    base = paint(pipe)
    got = {}
    for w in (0.0, 0.5, 1.0):
        mgr.activate(pipe, [Wanted("p", loras["peft"], w)], allow_pickle=False, model="tiny")
        # peft scales each layer's delta by weight * alpha / rank
        assert scales(pipe, "p") == {round(w * testing.ALPHA / testing.RANK, 6)}
        got[w] = paint(pipe)
    assert np.array_equal(got[0.0], base)  # weight 0 adds exactly nothing
    assert not np.array_equal(got[1.0], base) and not np.array_equal(got[0.5], got[1.0])
    pipe.disable_lora()  # someone else switched LoRA off: activation switches it back on
    mgr.activate(pipe, [Wanted("p", loras["peft"], 1.0)], allow_pickle=False, model="tiny")
    assert np.array_equal(paint(pipe), got[1.0])
    # Two adapters at once, each at its own weight.
    mgr.activate(pipe, [Wanted("p", loras["peft"], 0.25), Wanted("o", loras["other"], 0.75)],
                 allow_pickle=False, model="tiny")
    assert scales(pipe, "p") == {0.5} and scales(pipe, "o") == {1.5}
    assert pipe.get_active_adapters() == ["p", "o"]
    assert mgr.loads == 2


def test_lora_for_another_family_is_an_error_naming_the_file(pipe, loras):
    base = paint(pipe)
    mgr = manager_for(pipe)
    with pytest.raises(UserError, match=r"xl\.safetensors.*model 'tiny'.*size mismatch.*wrong "
                                        r"base model family"):
        mgr.activate(pipe, [Wanted("x", loras["sdxl"], 1.0)], allow_pickle=False, model="tiny")
    assert count_modules(pipe, "x") == 0
    assert np.array_equal(paint(pipe), base)  # the failed load left nothing behind


def test_lora_matching_no_layer_is_an_error_not_a_silent_noop(pipe, loras, tmp_path):
    from safetensors.torch import save_file

    # diffusers itself accepts a LoRA whose keys name no module of this pipeline (an SD3 one)
    # and attaches nothing: exactly the silent no-op the plugin must turn into an error.
    pipe.load_lora_weights(str(loras["sd3"].parent), weight_name=loras["sd3"].name,
                           adapter_name="raw")
    assert count_modules(pipe, "raw") == 0

    mgr = manager_for(pipe)
    with pytest.raises(UserError, match=r"sd3\.safetensors: no layer of model 'tiny' "
                                        r"\(StableDiffusionPipeline\) matched any key"):
        mgr.activate(pipe, [Wanted("f", loras["sd3"], 1.0)], allow_pickle=False, model="tiny")
    garbage = tmp_path / "garbage.safetensors"  # UNet-prefixed keys naming no layer
    save_file({"unet.foo.bar.lora_A.weight": torch.ones(4, 32),
               "unet.foo.bar.lora_B.weight": torch.ones(32, 4)}, str(garbage))
    with pytest.raises(UserError, match=r"garbage\.safetensors: cannot load into model 'tiny'"):
        mgr.activate(pipe, [Wanted("g", garbage, 1.0)], allow_pickle=False, model="tiny")
    assert mgr.loaded == {}


class Boom:
    def __reduce__(self):
        return (os.system, (f"touch {os.environ['BOOM_MARKER']}",))


def test_pickle_lora_refused_unless_allowed_and_never_unpickled_unsafely(pipe, loras, tmp_path,
                                                                          monkeypatch):
    mgr = manager_for(pipe)
    with pytest.raises(UserError, match=r"kohya\.pt: .pt files are pickles.*allow_pickle = true"):
        mgr.activate(pipe, [Wanted("k", loras["pickle"], 1.0)], allow_pickle=False, model="tiny")
    assert mgr.loads == 0

    mgr.activate(pipe, [Wanted("k", loras["pickle"], 1.0)], allow_pickle=True, model="tiny")
    from_pickle = paint(pipe)
    mgr.activate(pipe, [Wanted("s", loras["kohya"], 1.0)], allow_pickle=False, model="tiny")
    assert np.array_equal(from_pickle, paint(pipe))

    # A pickle that runs code when loaded: refused under any name, even with allow_pickle
    # (tensors only, weights_only=True), and a fake .safetensors never falls back to pickle.
    marker = tmp_path / "ran"
    monkeypatch.setenv("BOOM_MARKER", str(marker))
    for name in ("evil.pt", "evil.safetensors"):
        evil = tmp_path / name
        evil.write_bytes(pickle.dumps({"x": Boom()}))
        with pytest.raises(UserError, match=rf"{name}: (cannot read this pickle|not a valid)"):
            mgr.activate(pipe, [Wanted("e", evil, 1.0)], allow_pickle=True, model="tiny")
    assert not marker.exists()


def test_sdxl_pipeline_loads_its_own_lora_and_refuses_an_sd15_one(loras):
    from assetforge_diffusers.tiny import ensure_tiny_model
    from diffusers import DiffusionPipeline

    xl = DiffusionPipeline.from_pretrained(ensure_tiny_model("tiny-sdxl"))
    xl.set_progress_bar_config(disable=True)
    assert type(xl).__name__ == "StableDiffusionXLPipeline"
    assert adapters.pipeline_family(xl) == "sdxl"
    base = paint(xl)
    mgr = manager_for(xl)
    with pytest.raises(UserError, match=r"peft\.safetensors: cannot load into model 'xl'"):
        mgr.activate(xl, [Wanted("s", loras["peft"], 1.0)], allow_pickle=False, model="xl")
    mgr.activate(xl, [Wanted("x", loras["sdxl"], 1.0)], allow_pickle=False, model="xl")
    assert count_modules(xl, "x") == 48 and not np.array_equal(paint(xl), base)
    mgr.deactivate(xl)
    assert np.array_equal(paint(xl), base)


# -- through the hooks, as the engine calls them -------------------------------------------

@pytest.fixture
def styled(make_project, loras):
    root = make_project()
    add_pack(root, "ink", loras["peft"])
    add_pack(root, "moss", loras["other"], weight=0.5)
    return root


MANIFEST = """\
[texture.a]
prompt = "stone floor"
style = "ink"

[texture.b]
prompt = "brick wall"

[texture.c]
prompt = "wooden door"
styles = [{name = "moss", weight = 0.8}, {name = "ink", weight = 0.5}]
"""


def test_asset_after_lora_asset_is_byte_identical_to_it_alone(styled, sd15):
    from diffusers import DiffusionPipeline

    project = load_project(styled)
    alone, after = (DiffusionPipeline.from_pretrained(sd15) for _ in range(2))
    for p in (alone, after):
        p.set_progress_bar_config(disable=True)
    b_alone = run(project, alone, specs(styled, MANIFEST)[1])
    a, b, c = specs(styled, MANIFEST)
    a_img = run(project, after, a)
    # The LoRA really painted A: its expanded prompt without adapters gives another image.
    assert not np.array_equal(a_img, paint(alone, a.fields["prompt"], a.fields["negative_prompt"],
                                           make_jobs(a, project.seed_salt, "", "t")[0].seed))
    assert np.array_equal(run(project, after, b), b_alone)
    assert np.array_equal(run(project, after, specs(styled, MANIFEST)[0]), a_img)  # on again
    run(project, after, c)  # two adapters at once
    assert np.array_equal(run(project, after, specs(styled, MANIFEST)[1]), b_alone)
    assert adapters.manager_for(after).loads == 2


def test_switching_between_packs_reuses_loaded_adapters(styled, pipe):
    project = load_project(styled)
    manifest = MANIFEST.replace('"brick wall"', '"brick wall"\nstyle = "moss"')
    first = {}
    for _ in range(3):
        for spec in specs(styled, manifest)[:2]:
            img = run(project, pipe, spec)
            assert np.array_equal(first.setdefault(spec.id, img), img)  # A, B, A, B: stable
    mgr = adapters.manager_for(pipe)
    assert mgr.loads == 2  # one load per pack, none on return
    assert not np.array_equal(first["a"], first["b"])


def test_adapter_cache_is_bounded(make_project, loras, pipe):
    root = make_project(extra_config="[plugins.lora]\nmax_loaded_adapters = 1\n")
    add_pack(root, "ink", loras["peft"])
    add_pack(root, "moss", loras["other"])
    project = load_project(root)
    manifest = MANIFEST.replace('"brick wall"', '"brick wall"\nstyle = "moss"')
    for spec in specs(root, manifest)[:2] + specs(root, manifest)[:1]:
        run(project, pipe, spec)
    mgr = adapters.manager_for(pipe)
    assert (mgr.loads, mgr.evictions, len(mgr.loaded)) == (3, 2, 1)


def test_generation_context_names_a_family_mismatch(make_project, loras, pipe):
    root = make_project()
    add_pack(root, "xl", loras["sdxl"], text=STYLE.replace('"sd15"', '"sdxl"'))
    project = load_project(root)
    spec = specs(root, '[texture.a]\nprompt = "x"\nstyle = "xl"\n')[0]
    with pytest.raises(UserError, match=r"style.toml:6: family: style 'xl' is for sdxl models, "
                                        r"but model 'tiny' is sd15"):
        run(project, pipe, spec)
    assert adapters.manager_for(pipe).loads == 0


# -- torch-free hooks ------------------------------------------------------------------------

def test_expand_spec_composes_prompt_and_records_styles(styled):
    project = load_project(styled)
    a, b, c = specs(styled, MANIFEST)
    for spec in (a, b, c):
        plugin.expand_spec(spec, project)
        plugin.expand_spec(spec, project)  # idempotent
    assert a.fields["prompt"] == "ink prefix, inkword, stone floor, ink suffix"
    assert a.fields["negative_prompt"] == "ink neg"
    assert a.fields["_styles"] == [{"name": "ink", "weight": 1.0}]
    assert b.fields["prompt"] == "brick wall" and "_styles" not in b.fields
    assert c.fields["prompt"] == ("moss prefix, ink prefix, mossword, inkword, wooden door, "
                                  "moss suffix, ink suffix")
    assert c.fields["negative_prompt"] == "moss neg, ink neg"
    assert c.fields["_styles"] == [{"name": "moss", "weight": 0.8}, {"name": "ink", "weight": 0.5}]


def test_kind_default_style_and_opting_out(make_project, loras):
    root = make_project(config=_config_with_kind_style())
    add_pack(root, "ink", loras["peft"])
    project = load_project(root)
    a, b, c = specs(root, """\
        [texture.a]
        prompt = "floor"

        [texture.b]
        prompt = "wall"
        style = ""

        [texture.c]
        prompt = "door"
        styles = []
        """)
    for spec in (a, b, c):
        assert plugin.validate_spec(spec, project) is None
        plugin.expand_spec(spec, project)
    assert a.fields["_styles"] == [{"name": "ink", "weight": 1.0}]
    assert "_styles" not in b.fields and "_styles" not in c.fields

    # A bad default is reported where it is written: the [kinds.texture] table.
    (root / "assetforge.toml").write_text(_config_with_kind_style().replace('"ink"', '"inc"'))
    project = load_project(root)
    (spec,) = specs(root, '[texture.a]\nprompt = "floor"\n')
    (problem,) = plugin.validate_spec(spec, project)
    line = _config_with_kind_style().splitlines().index('style = "ink"') + 1
    assert str(problem).startswith(f"{root / 'assetforge.toml'}:{line}: texture.a.style: unknown "
                                   "style 'inc' (did you mean 'ink'?)")


def _config_with_kind_style() -> str:
    from conftest import BASE_CONFIG

    return BASE_CONFIG.replace("[kinds.texture]\n", '[kinds.texture]\nstyle = "ink"\n')


def test_unknown_style_is_located_with_did_you_mean(styled):
    project = load_project(styled)
    (spec,) = specs(styled, '[texture.a]\nprompt = "x"\n\nstyle = "inc"\n')
    (problem,) = plugin.validate_spec(spec, project)
    assert str(problem) == (f"{styled / 'manifests' / 'game.toml'}:4: texture.a.style: unknown "
                            "style 'inc' (did you mean 'ink'?); style packs in styles/: ink, moss")
    (spec,) = specs(styled, '[texture.a]\nprompt = "x"\nstyles = [{name = "mos"}]\n')
    (problem,) = plugin.validate_spec(spec, project)
    assert "texture.a.styles: unknown style 'mos' (did you mean 'moss'?)" in str(problem)


@pytest.mark.parametrize("text, line, message", [
    ('description = "x"\nprompt_prefix = "a\n', 2, "invalid TOML"),
    ('description = "x"\ntrigger_word = ["a"]\n', 2,
     "trigger_word: unknown key (did you mean 'trigger_words'?)"),
    ('family = "sd1.5"\n', 1, "family: unknown family 'sd1.5' (did you mean 'sd15'?)"),
    ('description = "x"\n\n[[lora]]\nfile = "a.safetensors"\n\n'
     '[[lora]]\nfile = "missing.safetensors"\n', 6, "lora[1].file: file not found"),
    ('[[lora]]\nfile = "a.safetensors"\nweight = "high"\n', 1,
     "lora[0].weight: weight must be a number, got str"),
    ('[[lora]]\nfile = "a.gguf"\n', 1, "lora[0].file: unknown LoRA format '.gguf'"),
])
def test_malformed_style_toml_is_reported_at_its_line(make_project, loras, text, line, message):
    root = make_project()
    folder = root / "styles" / "bad"
    folder.mkdir(parents=True)
    shutil.copy(loras["peft"], folder / "a.safetensors")
    (folder / "style.toml").write_text(text)
    project = load_project(root)
    (spec,) = specs(root, '[texture.a]\nprompt = "x"\nstyle = "bad"\n')
    problems = plugin.validate_spec(spec, project)
    assert problems and str(problems[0]).startswith(f"{folder / 'style.toml'}:{line}: ")
    assert message in str(problems[0])
    with pytest.raises(UserError):
        plugin.expand_spec(spec, project)


def test_pickled_lora_in_a_pack_is_a_validation_problem_unless_allowed(make_project, loras):
    for allow, expected in ((False, 1), (True, 0)):
        root = make_project(name=f"p{allow}", config=_base(allow_pickle=allow))
        add_pack(root, "old", loras["pickle"])
        project = load_project(root)
        (spec,) = specs(root, '[texture.a]\nprompt = "x"\nstyle = "old"\n')
        problems = plugin.validate_spec(spec, project) or []
        assert len(problems) == expected
        if problems:
            assert "style.toml:9: lora.file: kohya.pt is a pickle" in str(problems[0])


def _base(allow_pickle: bool) -> str:
    from conftest import BASE_CONFIG

    return BASE_CONFIG.replace('seed_salt = "test"\n',
                               f'seed_salt = "test"\nallow_pickle = {str(allow_pickle).lower()}\n')


def test_family_mismatch_is_found_while_planning(make_project, loras):
    root = make_project()
    add_pack(root, "xl", loras["sdxl"], text=STYLE.replace('"sd15"', '"sdxl"'))
    (spec,) = specs(root, '[texture.a]\nprompt = "x"\nstyle = "xl"\n')
    (problem,) = plugin.validate_spec(spec, load_project(root))
    assert "style 'xl' is for sdxl models (styles/xl/style.toml), but this asset's model is sd15" \
        in str(problem)


def test_manifest_key_checks():
    keys = {k.name: k for k in plugin.register_manifest_keys()}
    check = keys["styles"].check
    assert check([{"name": "a", "weight": 0.5}, "b"]) is None
    assert check([{"name": "a", "weigth": 0.5}]) == (
        "entry 1: unknown key 'weigth' (did you mean 'weight'?); an entry has name and weight")
    assert check([{"weight": 1}]) == "entry 1: missing name"
    assert check([{"name": "a", "weight": 80}]) == (
        "entry 1: weight must be between -10 and 10, got 80")
    assert check([{"name": "a", "weight": True}]) == "entry 1: weight must be a number, got bool"
    assert check(["a", "a"]) == "style 'a' is listed twice"
    assert keys["style"].check("../x").startswith("a style name uses letters")


def test_recipe_part_hashes_files_not_paths_and_ignores_description(styled, loras):
    project = load_project(styled)

    def part():
        (spec,) = specs(styled, '[texture.a]\nprompt = "x"\nstyle = "ink"\n')
        plugin.expand_spec(spec, project)
        return plugin.recipe_parts(make_jobs(spec, "", "tiny", "textures")[0], project)

    first = part()
    assert first.plugin == "lora"
    (style,) = first.params["styles"]
    assert style["name"] == "ink" and style["weight"] == 1.0
    assert style["loras"] == [{"hash": project.hash_file(loras["peft"]), "weight": 1.0}]
    toml = styled / "styles" / "ink" / "style.toml"
    toml.write_text(toml.read_text().replace('"ink look"', '"a new description"'))
    assert part() == first  # a description does not change the image
    toml.write_text(toml.read_text().replace("weight = 1.0", "weight = 0.9"))
    assert part().params["styles"][0]["settings"] != style["settings"]
    shutil.copy(loras["other"], styled / "styles" / "ink" / loras["peft"].name)
    assert part().params["styles"][0]["loras"][0]["hash"] != style["loras"][0]["hash"]


def test_hook_watch_paths_lora_returns_the_styles_folder(styled, make_project):
    assert plugin.watch_paths(load_project(styled)) == [styled / "styles"]
    other = make_project(name="other", extra_config='[plugins.lora]\nstyles_dir = "looks"\n')
    (other / "looks").mkdir()
    assert plugin.watch_paths(load_project(other)) == [other / "looks"]


# -- end to end through the engine ------------------------------------------------------------

NOOP_PROBE = """
import sys
from pathlib import Path
from assetforge.engine import build
from assetforge.project import load_project
res = build(load_project(Path(sys.argv[1])))
heavy = [m for m in ("torch", "diffusers", "peft", "safetensors") if m in sys.modules]
print(res.summary()["up_to_date"], "heavy:", ",".join(heavy))
"""


def test_build_with_style_packs_end_to_end(make_project, loras, monkeypatch):
    import json
    import sqlite3
    import subprocess
    import sys

    from assetforge.engine import build

    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers,lora")  # only the plugins under test
    root = make_project({"manifests/game.toml": MANIFEST})
    add_pack(root, "ink", loras["peft"])
    add_pack(root, "moss", loras["other"], weight=0.5)
    assert build(load_project(root)).summary()["built"] == 3
    alone = make_project({"manifests/game.toml": '[texture.b]\nprompt = "brick wall"\n'},
                         name="alone")
    assert build(load_project(alone)).summary()["built"] == 1
    png = "assets/textures/b.png"
    assert (root / png).read_bytes() == (alone / png).read_bytes()  # b was built after a

    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as db:
        rows = dict(db.execute("SELECT asset_id, metrics_json FROM generations"))
        recipe = json.loads(db.execute("SELECT recipe_json FROM generations "
                                       "WHERE asset_id='c'").fetchone()[0])
    assert json.loads(rows["a"])["lora_loads"] == 1 and json.loads(rows["c"])["lora_loads"] == 1
    assert [s["name"] for s in recipe["plugins"]["lora"]["params"]["styles"]] == ["moss", "ink"]

    # A no-op build with styles plans (expands, hashes LoRA files) without importing torch.
    res = subprocess.run([sys.executable, "-c", NOOP_PROBE, str(root)], capture_output=True,
                         text=True, timeout=120, env=dict(os.environ))
    assert res.stdout.strip() == "3 heavy:", res.stderr[-2000:]

    # Replacing a LoRA file rebuilds exactly the assets whose styles use it.
    shutil.copy(loras["kohya"], root / "styles" / "ink" / loras["peft"].name)
    statuses = {a.id: a.status for a in build(load_project(root)).assets}
    assert statuses == {"a": "built", "b": "up-to-date", "c": "built"}


def test_manifest_style_errors_are_reported_by_the_cli(make_project, loras, monkeypatch):
    from helpers import run_cli

    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers,lora")
    root = make_project({"manifests/game.toml": """\
        [texture.a]
        prompt = "x"
        style = "inc"

        [texture.b]
        prompt = "y"
        styles = [{name = "ink", weigth = 0.5}]
        """})
    add_pack(root, "ink", loras["peft"])
    res = run_cli(root, "build")
    assert res.exit_code == 2
    manifest = root / "manifests" / "game.toml"
    assert (f"{manifest}:7: texture.b.styles: entry 1: unknown key 'weigth' (did you mean "
            "'weight'?)") in res.output
    (root / "manifests" / "game.toml").write_text(
        '[texture.a]\nprompt = "x"\nstyle = "inc"\n')
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert (f"{manifest}:3: texture.a.style: unknown style 'inc' (did you mean 'ink'?)"
            in res.output)


def test_builders_are_deterministic_and_the_demo_pack_is_regenerable(tmp_path, sd15):
    for save in (testing.save_peft_lora, testing.save_kohya_lora):
        one, two = (save(sd15, tmp_path / f"{n}.safetensors", seed=5) for n in ("one", "two"))
        assert one.read_bytes() == two.read_bytes()
    demo = Path(__file__).resolve().parents[1] / "projects" / "demo"
    fresh = testing.make_demo_pack(tmp_path / "dungeon_ink")
    for name in ("style.toml", "dungeon_ink.safetensors"):
        assert (fresh / name).read_bytes() == (demo / "styles" / "dungeon_ink" / name).read_bytes()
    pack = load_pack(load_project(demo), "dungeon_ink")
    assert pack.family == "sd15" and pack.loras[0].weight == 0.8


def test_other_generators_loaded_objects_are_left_alone(styled):
    """A generator whose loaded model is, say, a str: unstyled jobs pass, styled ones fail."""
    project = load_project(styled)
    a, b, _ = specs(styled, MANIFEST)
    for spec in (a, b):
        plugin.expand_spec(spec, project)
    job_a, job_b = (make_jobs(s, "", "flat", "t")[0] for s in (a, b))
    assert plugin.generation_context(GenerationContext(project, job_b, {}, "red", "flat")) is None
    with pytest.raises(UserError, match="model 'flat': the flat generator's str cannot load LoRA"):
        with plugin.generation_context(GenerationContext(project, job_a, {}, "red", "flat")):
            pass
