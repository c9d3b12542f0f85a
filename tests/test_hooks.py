"""Every hook in hookspecs.py has a section in docs/plugins.md and a test here or elsewhere
(named ``test_hook_<name>…``). Hooks are exercised through project-local plugins on real builds."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest
from helpers import build_json, run_cli
from PIL import Image

from assetforge.hookspecs import hook_names

REPO = Path(__file__).resolve().parents[1]


def _project(make_project, plugin_src: str, manifest: str, extra_config: str = ""):
    from conftest import BASE_CONFIG

    config = BASE_CONFIG.replace('seed_salt = "test"\n',
                                 'seed_salt = "test"\nplugins_dir = "plugins"\n')
    return make_project({"plugins/studio.py": plugin_src, "manifests/a.toml": manifest},
                        config=config, extra_config=extra_config)


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_documented(hook):
    guide = (REPO / "docs" / "plugins.md").read_text()
    assert re.search(rf"^### `?{hook}`?", guide, re.M), f"docs/plugins.md has no section for {hook}"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_section_shows_its_signature(hook):
    """The section's signature line has the spec's parameter names and return annotation."""
    import inspect

    from assetforge import hookspecs

    spec = getattr(hookspecs, hook)
    signature = (f"`{hook}({', '.join(inspect.signature(spec).parameters)}) -> "
                 f"{spec.__annotations__['return']}`")
    guide = (REPO / "docs" / "plugins.md").read_text()
    section = re.split(rf"^### `?{hook}`?\s*$", guide, flags=re.M)[1].split("\n### ")[0]
    assert signature in section, f"docs/plugins.md's {hook} section lacks {signature}"


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_has_a_test(hook):
    tests = "\n".join(p.read_text() for p in (REPO / "tests").glob("test_*.py"))
    assert re.search(rf"def test_hook_{hook}\w*\(", tests), f"no test named test_hook_{hook}…"


HEADER = "from assetforge import hookimpl\nfrom assetforge.interfaces import *\n"


def test_hook_register_generators(make_project):
    src = HEADER + '''
from PIL import Image
from assetforge.hashing import bytes_hash
from assetforge.interfaces import ModelIdentity

class Flat:
    name = "flat"; version = "2.0"; schedulers = ("solid",)
    def handles(self, model): return model.source.startswith("flat:")
    def identify(self, model, project):  # the "weights" are the colour named in the source
        return ModelIdentity(bytes_hash(model.source.encode()), "flat")
    def validate_scheduler(self, name, family): return None
    def recipe_fields(self, job, model): return {"fill": "solid"}
    def load(self, model, project): return model.source[5:]
    def device_of(self, loaded): return "none"
    def generate(self, loaded, job, ctx):
        return Image.new("RGB", (job.width, job.height), loaded)

@hookimpl
def register_generators():
    return [Flat()]
'''
    root = _project(make_project, src, '[tile.a]\nprompt = "x"\nmodel = "flat"\n'
                    'scheduler = "solid"\n', '\n[models.flat]\nsource = "flat:red"\n')
    assert build_json(root)["summary"]["built"] == 1
    with Image.open(root / "assets" / "tiles" / "a.png") as im:
        assert im.getpixel((3, 3)) == (255, 0, 0)
    recipe = json.loads(run_cli(root, "show", "a", "--json").stdout)["jobs"][0]["recipe"]
    assert recipe["generator"] == {"name": "flat", "version": "2.0", "fill": "solid"}
    assert recipe["model"]["family"] == "flat"


def test_hook_register_asset_kinds(make_project):
    src = HEADER + '''
@hookimpl
def register_asset_kinds():
    return [AssetKind("icon", {"width": 32, "height": 32, "steps": 2, "guidance": 5.0,
                               "scheduler": "euler", "negative_prompt": ""}, "ui/icons")]
'''
    root = _project(make_project, src, '[icon.coin]\nprompt = "a gold coin"\n')
    data = build_json(root)
    assert data["assets"][0]["outputs"] == ["ui/icons/coin.png"]
    with Image.open(root / "assets" / "ui" / "icons" / "coin.png") as im:
        assert im.size == (32, 32)


def test_hook_register_manifest_keys(make_project):
    src = HEADER + '''
@hookimpl
def register_manifest_keys():
    return [ManifestKey("palette", (str,), "colour palette name", kinds=("tile",),
                        check=lambda v: None if v in ("nes", "gb") else "must be nes or gb")]
'''
    root = _project(make_project, src, '[tile.a]\nprompt = "x"\npalette = "nes"\n')
    assert run_cli(root, "build", "--dry-run").exit_code == 0
    (root / "manifests" / "a.toml").write_text('[tile.a]\nprompt = "x"\npalete = "nes"\n')
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert "a.toml:3: tile.a.palete: unknown key (did you mean 'palette'?)" in res.stderr
    (root / "manifests" / "a.toml").write_text('[tile.a]\nprompt = "x"\npalette = "c64"\n')
    assert "tile.a.palette: must be nes or gb" in run_cli(root, "build").stderr


def test_hook_validate_spec(make_project):
    src = HEADER + '''
from assetforge.errors import Problem

@hookimpl
def validate_spec(spec, project):
    if "forbidden" in spec.get("prompt", ""):
        return [Problem(spec.where("prompt"), f"{spec.kind}.{spec.id}.prompt",
                        "studio policy: no forbidden words")]
'''
    root = _project(make_project, src, '[texture.a]\nsteps = 2\nprompt = "a forbidden door"\n')
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert "a.toml:3: texture.a.prompt: studio policy: no forbidden words" in res.stderr
    assert not (root / "assets").exists()


def test_hook_expand_spec(make_project):
    src = HEADER + '''
@hookimpl
def expand_spec(spec, project):
    if spec.kind == "tile":
        spec.fields["prompt"] += ", pixel art"
'''
    root = _project(make_project, src, '[tile.a]\nprompt = "a chest"\n[texture.b]\nprompt = "b"\n')
    show = json.loads(run_cli(root, "show", "a", "--json").stdout)
    assert show["jobs"][0]["recipe"]["prompt"] == "a chest, pixel art"
    show = json.loads(run_cli(root, "show", "b", "--json").stdout)
    assert show["jobs"][0]["recipe"]["prompt"] == "b"


def test_hook_recipe_parts(make_project):
    src = HEADER + '''
__version__ = "1.2"
LEVEL = 3

@hookimpl
def recipe_parts(job, project):
    return RecipePart("studio", __version__, {"level": LEVEL})
'''
    root = _project(make_project, src, '[texture.a]\nprompt = "x"\n')
    build_json(root)
    recipe = json.loads(run_cli(root, "show", "a", "--json").stdout)["jobs"][0]["recipe"]
    assert recipe["plugins"]["studio"] == {"version": "1.2", "params": {"level": 3}}
    plugin = root / "plugins" / "studio.py"
    plugin.write_text(plugin.read_text().replace("LEVEL = 3", "LEVEL = 4"))
    res = run_cli(root, "status")
    assert "changed     a  (recipe changed: plugins.studio)" in res.output


def test_hook_generation_context_and_failures_stay_local(make_project):
    src = HEADER + '''
import contextlib
EVENTS = []

@hookimpl
def generation_context(ctx):
    @contextlib.contextmanager
    def around():
        if ctx.job.asset_id == "bad":
            raise RuntimeError("adapter exploded")
        EVENTS.append(("enter", ctx.job.asset_id, type(ctx.pipeline).__name__))
        yield
        EVENTS.append(("exit", ctx.job.asset_id))
        ctx.metrics["studio_seen"] = True
    return around()
'''
    root = _project(make_project, src,
                    '[texture.bad]\nprompt = "x"\n[texture.good]\nprompt = "y"\n')
    data = build_json(root)
    by_id = {a["id"]: a for a in data["assets"]}
    assert by_id["good"]["status"] == "built"
    assert by_id["bad"]["status"] == "failed"
    assert "plugin 'studio': RuntimeError: adapter exploded" in by_id["bad"]["errors"][0]
    assert not (root / "assets" / "textures" / "bad.png").exists()
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as c:
        rows = dict(c.execute("SELECT asset_id, error_plugin FROM generations").fetchall())
        metrics = c.execute("SELECT metrics_json FROM generations"
                            " WHERE asset_id='good'").fetchone()
    assert rows == {"bad": "studio", "good": None}
    assert json.loads(metrics[0])["studio_seen"] is True
    import sys
    events = sys.modules["assetforge_project_plugins.studio"].EVENTS
    assert events == [("enter", "good", "StableDiffusionPipeline"), ("exit", "good")]


def test_hook_register_postprocessors_run_in_order(make_project):
    src = HEADER + '''
from PIL import Image
ORDER = []

def fill(colour, name):
    def process(image, ctx):
        ORDER.append(name)
        return Image.new("RGB", image.size, colour)
    return process

@hookimpl
def register_postprocessors():
    return [PostProcessor("late", 20, fill((0, 0, 255), "late")),
            PostProcessor("early", 10, fill((255, 0, 0), "early"),
                          applies=lambda job: job.kind == "texture")]
'''
    root = _project(make_project, src, '[texture.a]\nprompt = "x"\n[tile.b]\nprompt = "y"\n')
    build_json(root)
    import sys
    assert sys.modules["assetforge_project_plugins.studio"].ORDER == ["early", "late", "late"]
    with Image.open(root / "assets" / "textures" / "a.png") as im:
        assert im.getpixel((0, 0)) == (0, 0, 255)


def test_hook_quality_checks(make_project):
    src = HEADER + '''
import numpy as np

@hookimpl
def quality_checks(image, ctx):
    mean = float(np.asarray(image).mean())
    limit = ctx.project.plugin_config("studio").get("max_mean", 255)
    return [CheckResult("brightness", mean <= limit, f"mean {mean:.1f} > {limit}", mean)]
'''
    root = _project(make_project, src, '[texture.a]\nprompt = "x"\n',
                    '\n[plugins.studio]\nmax_mean = 1\n')
    data = build_json(root)
    assert data["assets"][0]["status"] == "failed"
    assert "quality check brightness failed: mean" in data["assets"][0]["errors"][0]
    assert not (root / "assets" / "textures" / "a.png").exists()
    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace("max_mean = 1", "max_mean = 255"))
    assert build_json(root)["assets"][0]["status"] == "built"


def test_hook_register_commands():
    import click
    from click.testing import CliRunner

    from assetforge import hookimpl
    from assetforge.plugins import load_plugins

    class Plugin:
        PLUGIN_NAME = "hello"

        @staticmethod
        @hookimpl
        def register_commands(cli):
            @cli.command()
            def hello():
                """Say hello."""
                click.echo("hello from a plugin")

    group = click.Group("assetforge")
    load_plugins(None, extra=[Plugin]).hook.register_commands(cli=group)
    res = CliRunner().invoke(group, ["hello"])
    assert res.output == "hello from a plugin\n"


def test_plugins_command_lists_versions_and_hooks(make_project):
    src = HEADER + '__version__ = "0.3"\n@hookimpl\ndef expand_spec(spec, project):\n    pass\n'
    root = _project(make_project, src, '[texture.a]\nprompt = "x"\n')
    data = json.loads(run_cli(root, "plugins", "--json").stdout)
    by_name = {p["name"]: p for p in data}
    assert by_name["studio"]["version"] == "0.3"
    assert by_name["studio"]["hooks"] == ["expand_spec"]
    assert "register_generators" in by_name["diffusers"]["hooks"]
    assert "register_asset_kinds" in by_name["core"]["hooks"]


def test_plugin_restriction_env(make_project, monkeypatch):
    src = HEADER + '@hookimpl\ndef expand_spec(spec, project):\n    spec.fields["prompt"] += "!"\n'
    root = _project(make_project, src, '[texture.a]\nprompt = "x"\n')
    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers")
    data = json.loads(run_cli(root, "plugins", "--json").stdout)
    assert sorted(p["name"] for p in data) == ["core", "diffusers"]
