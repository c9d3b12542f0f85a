"""A corpus of manifest mistakes: each is reported as file:line: key: message, exit code 2,
no traceback, nothing generated, database and outputs untouched."""

from __future__ import annotations

import pytest
from conftest import BASE_CONFIG
from helpers import run_cli, snapshot

GOOD = """\
[texture.floor]
prompt = "stone floor"
steps = 1
"""

# (name, {file: text}, file holding the mistake, text on the offending line, expected message)
CASES = [
    ("typo key", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\npromt = "x"\n'},
     "manifests/b.toml", "promt", "texture.wall.promt: unknown key (did you mean 'prompt'?)"),
    ("string for int", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nsteps = "ten"\n'},
     "manifests/b.toml", "steps", "texture.wall.steps: expected an integer, got a string"),
    ("size not multiple of 8", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nwidth = 100\n'},
     "manifests/b.toml", "width", "texture.wall.width: must be a multiple of 8"),
    ("size too large", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nheight = 16384\n'},
     "manifests/b.toml", "height", "texture.wall.height: must be between 8 and 8192"),
    ("unknown model", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nmodel = "tinny"\n'},
     "manifests/b.toml", "model", "texture.wall.model: unknown model 'tinny' (did you mean 'tiny'?)"),
    ("unknown scheduler", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nscheduler = "eulr"\n'},
     "manifests/b.toml", "scheduler", "texture.wall.scheduler: unknown scheduler 'eulr'"),
    ("output escapes", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\noutput = "../../x.png"\n'},
     "manifests/b.toml", "output", "texture.wall.output: must stay inside output_dir"),
    ("output absolute", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\noutput = "/tmp/x.png"\n'},
     "manifests/b.toml", "output", "texture.wall.output: must be a path relative to output_dir"),
    ("output not png", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\noutput = "wall.jpg"\n'},
     "manifests/b.toml", "output", "texture.wall.output: must end in .png"),
    ("toml syntax", {"manifests/b.toml": '[texture.wall]\nprompt = "unterminated\n'},
     "manifests/b.toml", "unterminated", "invalid TOML"),
    ("duplicate id across files", {"manifests/b.toml": '\n[tile.floor]\nprompt = "again"\n'},
     "manifests/b.toml", "[tile.floor]", "tile.floor: duplicate asset id (also defined at"),
    ("missing prompt", {"manifests/b.toml": '[texture.wall]\nsteps = 2\n'},
     "manifests/b.toml", "[texture.wall]", "texture.wall.prompt: missing"),
    ("empty prompt", {"manifests/b.toml": '[texture.wall]\nprompt = "   "\n'},
     "manifests/b.toml", "prompt", "texture.wall.prompt: must not be empty"),
    ("unknown kind", {"manifests/b.toml": '[textures.wall]\nprompt = "w"\n'},
     "manifests/b.toml", "[textures.wall]", "textures: unknown asset kind (did you mean 'texture'?)"),
    ("boolean for int", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nseed = true\n'},
     "manifests/b.toml", "seed", "texture.wall.seed: expected an integer, got a boolean"),
    ("negative seed", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nseed = -1\n'},
     "manifests/b.toml", "seed", "texture.wall.seed: must be between 0 and"),
    ("zero steps", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nsteps = 0\n'},
     "manifests/b.toml", "steps", "texture.wall.steps: must be between 1 and 1000"),
    ("guidance string", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nguidance = "7"\n'},
     "manifests/b.toml", "guidance", "texture.wall.guidance: expected a number or an integer"),
    ("views on a texture", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\nviews = ["a"]\n'},
     "manifests/b.toml", "views", "texture.wall.views: unknown key for a texture"),
    ("bad view name", {"manifests/b.toml": '[character.hero]\nprompt = "h"\nviews = ["front view"]\n'},
     "manifests/b.toml", "views", "character.hero.views: view names must be"),
    ("bad asset id", {"manifests/b.toml": '[texture."my wall"]\nprompt = "w"\n'},
     "manifests/b.toml", "my wall", "texture.my wall: asset ids use letters"),
    ("asset not a table", {"manifests/b.toml": '[texture]\nwall = 3\n'},
     "manifests/b.toml", "wall = 3", "texture.wall: expected a table [texture.wall]"),
    ("tags not strings", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\ntags = [1, 2]\n'},
     "manifests/b.toml", "tags", "texture.wall.tags: must be a list of strings"),
    ("two assets one output",
     {"manifests/b.toml": '[texture.wall]\nprompt = "w"\noutput = "textures/floor.png"\n'},
     "manifests/b.toml", "output", "texture.wall.output: writes textures/floor.png, as does"),
    ("bad kind default",
     {"assetforge.toml": BASE_CONFIG.replace('steps = 2', 'steps = "many"', 1)},
     "assetforge.toml", 'steps = "many"', "kinds.texture.steps: expected an integer"),
    ("unknown kind table", {"assetforge.toml+": '\n[kinds.textur]\nsteps = 2\n'},
     "assetforge.toml", "[kinds.textur]", "kinds.textur: unknown asset kind (did you mean"),
    ("unknown project key", {"assetforge.toml": "[project]\noutput_dirr = 'x'\n"
                             "[models.tiny]\nsource = 'builtin:tiny-sd15'\n"},
     "assetforge.toml", "output_dirr", "project.output_dirr: unknown key (did you mean 'output_dir'?)"),
    ("model without source", {"assetforge.toml+": '\n[models.other]\npath = "x"\n'},
     "assetforge.toml", "[models.other]", "models.other.source: missing"),
    ("not utf-8", {"manifests/b.toml": b"[texture.wall]\nprompt = \"\xff\xfe\"\n"},
     "manifests/b.toml", "prompt", "not UTF-8 text: byte 0xff at column 11"),
    # Limits and malformed files (issue 11): each located, none a traceback.
    ("config not utf-8", {"assetforge.toml": BASE_CONFIG.encode().replace(b'"testgame"', b'"test\xc3("')},
     "assetforge.toml", "name = ", "not UTF-8 text: byte 0xc3 at column 13"),
    ("deep nesting", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\ntags = ' + "[" * 400 + "]" * 400 + "\n"},
     "manifests/b.toml", "tags", "nested deeper than 32 levels"),
    ("deep nesting in config", {"assetforge.toml+": "\n[plugins.x]\ny = " + "[" * 40 + "]" * 40 + "\n"},
     "assetforge.toml", "y = [[", "nested deeper than 32 levels"),
    ("id too long", {"manifests/b.toml": f'[texture.{"w" * 300}]\nprompt = "w"\n'},
     "manifests/b.toml", "[texture.", "name of 300 characters; the limit is 128"),
    ("giant table name", {"manifests/b.toml": f'[texture.{"w" * 1_000_000}]\nprompt = "w"\n'},
     "manifests/b.toml", "[texture.", "the limit is 128"),
    ("output name too long", {"manifests/b.toml": f'[texture.wall]\nprompt = "w"\noutput = "{"o" * 300}.png"\n'},
     "manifests/b.toml", "output", "texture.wall.output: writes ooo"),
    ("view name too long", {"manifests/b.toml": f'[character.hero]\nprompt = "h"\nviews = ["{"v" * 300}"]\n'},
     "manifests/b.toml", "views", "this file system allows"),
    ("NUL in output", {"manifests/b.toml": '[texture.wall]\nprompt = "w"\noutput = "a\\u0000b.png"\n'},
     "manifests/b.toml", "output", "texture.wall.output: contains a NUL character"),
    ("huge string", {"manifests/b.toml": f'[texture.wall]\nprompt = "{"w" * 200_000}"\n'},
     "manifests/b.toml", "prompt", "texture.wall.prompt: string of 200,000 characters; the limit is 100,000"),
    ("unterminated string at end", {"manifests/b.toml": '[texture.wall]\nprompt = "w'},
     "manifests/b.toml", "prompt", "invalid TOML: Unterminated string (the string that starts here"),
    ("unterminated multi-line string", {"manifests/b.toml": '[texture.wall]\nprompt = """w\n\nmore\n'},
     "manifests/b.toml", "prompt", "the multi-line string that starts here is never closed"),
    ("unterminated table header", {"manifests/b.toml": '\n\n[texture.wall'},
     "manifests/b.toml", "[texture.wall", "the table header that starts here is never closed"),
    ("default_model not a string", {"assetforge.toml": BASE_CONFIG.replace('seed_salt = "test"', "default_model = 5")},
     "assetforge.toml", "default_model", "project.default_model: expected a string, got int"),
    ("absolute manifest glob", {"assetforge.toml": BASE_CONFIG.replace('seed_salt = "test"', 'manifests = "/tmp/**/*.toml"')},
     "assetforge.toml", "manifests", "project.manifests: '/tmp/**/*.toml': globs are relative"),
    ("empty manifest glob", {"assetforge.toml": BASE_CONFIG.replace('seed_salt = "test"', 'manifests = ""')},
     "assetforge.toml", "manifests", "project.manifests: an empty glob"),
    ("non-string manifest glob", {"assetforge.toml": BASE_CONFIG.replace('seed_salt = "test"', 'manifests = ["manifests/*.toml", 5]')},
     "assetforge.toml", "manifests", "project.manifests.1: expected a string"),
    ("missing plugins_dir", {"assetforge.toml": BASE_CONFIG.replace('seed_salt = "test"', 'plugins_dir = "nope"')},
     "assetforge.toml", "plugins_dir", "project.plugins_dir: no folder"),
    ("kinds not a table", {"assetforge.toml+": "\n[plugins]\nseamless = 3\n"},
     "assetforge.toml", "seamless = 3", "plugins.seamless: expected a table"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory, request):
    """One real build whose outputs and records every case must leave untouched."""
    root = tmp_path_factory.mktemp("errors") / "proj"
    root.mkdir()
    (root / "assetforge.toml").write_text(BASE_CONFIG)
    (root / "manifests").mkdir()
    (root / "manifests" / "a.toml").write_text(GOOD)
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    return root


def _line_of(text: str | bytes, needle: str | None) -> int:
    if needle is None:
        return 0
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    lines = text.split("\n")
    return next(i for i, line in enumerate(lines, 1) if needle in line)


@pytest.mark.parametrize("name,files,where,needle,expected", CASES, ids=[c[0] for c in CASES])
def test_mistake_is_reported_clearly(built, name, files, where, needle, expected):
    assert len(CASES) >= 20
    root = built
    config = (root / "assetforge.toml").read_text()
    before = snapshot(root)
    written = []
    try:
        for rel, text in files.items():
            path = root / rel.rstrip("+")
            if rel.endswith("+"):
                text = config + text
            if isinstance(text, bytes):
                path.write_bytes(text)
            else:
                path.write_text(text)
            written.append(path)
        res = run_cli(root, "build")
        full_text = (root / where).read_bytes()
        line = _line_of(full_text, needle)
        assert res.exit_code == 2, res.output
        assert "Traceback" not in res.output
        location = f"{root / where}:{line}: " if line else f"{root / where}"
        errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
        assert any(location in e and expected in e for e in errors), (location, expected, errors)
        assert snapshot(root) == before
    finally:
        (root / "assetforge.toml").write_text(config)
        for p in written:
            if p.name != "assetforge.toml":
                p.unlink()


def test_all_errors_of_a_run_are_reported_at_once(built):
    root = built
    bad = root / "manifests" / "c.toml"
    bad.write_text('[texture.x]\nprompt = "x"\nsteps = "a"\nwidth = 7\n\n[tile.y]\nnegative = 1\n')
    try:
        res = run_cli(root, "build")
    finally:
        bad.unlink()
    assert res.exit_code == 2
    errors = [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 4, errors  # steps, width, unknown 'negative', missing prompt
    assert f"{bad}:3: texture.x.steps" in errors[0] or any(f"{bad}:3:" in e for e in errors)
    assert any(f"{bad}:7: tile.y.negative: unknown key" in e for e in errors)
    assert "4 errors; nothing was built" in res.stderr
