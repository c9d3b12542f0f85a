"""The generated schemas agree with the validator, judged by the real taplo CLI (npm
``@taplo/cli``, the engine of editors' TOML language servers; ``make setup`` installs it):

* the demo's manifests and assetforge.toml pass taplo;
* each broken manifest (unknown key, wrong type, bad enum value, out-of-range number…) is
  flagged by taplo at the line of the mistake, and ``assetforge build --check`` rejects the
  same file at the same line;
* every project the fuzz corpus mutates (tests/fuzzcases.py) that AssetForge accepts passes
  taplo: no false alarms in the editor.

taplo starts slowly (a WebAssembly module), so each test runs it once over many files.
"""

from __future__ import annotations

import json
import random
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from fuzzcases import KINDS, TARGETS, make_base, run_case
from helpers import run_cli

REPO = Path(__file__).resolve().parents[1]
TAPLO = REPO / "tests" / "taplo" / "node_modules" / ".bin" / "taplo"
DIAG = re.compile(r"^error: (?P<msg>.*)\n\s*┌─ (?P<file>.+?):(?P<line>\d+):(?P<col>\d+)$",
                  re.M)


def taplo_lint(cwd: Path, *args: str) -> tuple[int, dict[str, list[tuple[int, str]]]]:
    """Run ``taplo lint``; (exit code, file name → [(line, message)]), names relative to
    ``cwd``."""
    res = subprocess.run([str(TAPLO), "lint", "--colors", "never", *args], cwd=cwd,
                         capture_output=True, text=True, timeout=600)
    found: dict[str, list[tuple[int, str]]] = {}
    for m in DIAG.finditer(res.stdout + res.stderr):
        name = Path(m["file"]).resolve().relative_to(cwd.resolve()).as_posix()
        found.setdefault(name, []).append((int(m["line"]), m["msg"]))
    return res.returncode, found


def demo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(REPO / "projects" / "demo", root,
                    ignore=shutil.ignore_patterns("assets", ".assetforge"))
    return root


def test_demo_manifests_and_config_pass_taplo(tmp_path):
    root = demo_copy(tmp_path)
    committed = (root / ".taplo.toml").read_text()
    res = run_cli(root, "schema", "--editor")
    assert res.exit_code == 0, res.output
    assert (root / ".taplo.toml").read_text() == committed  # the demo commits init's file
    code, found = taplo_lint(root)  # .taplo.toml: manifests/**/*.toml and assetforge.toml
    assert (code, found) == (0, {})
    # and taplo did apply the schema: an unknown key in the same setting is an error
    (root / "manifests" / "textures.toml").write_text(
        (root / "manifests" / "textures.toml").read_text() + '\n[texture.x]\nprompt = "x"\n'
        "colour = 1\n")
    code, found = taplo_lint(root)
    assert code != 0 and "manifests/textures.toml" in found


# file name → (text, line of the mistake, words taplo's message must hold)
BROKEN = {
    "unknown_key.toml": ('# a typo\n[texture.bad]\nprompt = "x"\ncolour = "red"\n', 4,
                         "colour"),
    "wrong_type.toml": ('[texture.bad]\nprompt = "x"\n\nsteps = "many"\n', 4, "integer"),
    "bad_scheduler.toml": ('[texture.bad]\nprompt = "x"\nscheduler = "eulr"\n', 3, "eulr"),
    "bad_tiling.toml": ('[texture.bad]\nprompt = "x"\n# plugin key\ntiling = "diagonal"\n', 4,
                        "diagonal"),
    "too_many_steps.toml": ('[texture.bad]\nprompt = "x"\nsteps = 5000\n', 3, "1000"),
    "odd_width.toml": ('[texture.bad]\nprompt = "x"\nwidth = 100\n', 3, "multiple of 8"),
    "negative_seed.toml": ('[tile.bad]\nprompt = "x"\n\n\nseed = -1\n', 5, "minimum"),
    "pixel_art_size.toml": ('[tile.bad]\nprompt = "x"\npixel_art = { size = 1000 }\n', 3,
                            "1000"),
    "views_on_texture.toml": ('[texture.bad]\nprompt = "x"\nviews = ["a"]\n', 3, "views"),
    "bad_id.toml": ('[texture."a b"]\nprompt = "x"\n', 1, "a b"),
    "unknown_kind.toml": ('[textur.bad]\nprompt = "x"\n', 1, "textur"),
}


def test_broken_manifests_are_flagged_by_taplo_and_rejected_by_build_check(tmp_path):
    root = demo_copy(tmp_path)
    assert run_cli(root, "schema", "--editor").exit_code == 0
    schema = (root / ".assetforge" / "schemas" / "manifest.schema.json").resolve()
    broken = tmp_path / "broken"
    broken.mkdir()
    for name, (text, _line, _words) in BROKEN.items():
        (broken / name).write_text(text)
    code, found = taplo_lint(broken, "--no-auto-config", "--schema", schema.as_uri(),
                             *BROKEN)
    assert code != 0
    for name, (_text, line, words) in BROKEN.items():
        at_line = [msg for ln, msg in found.get(name, []) if ln == line]
        assert any(words in msg for msg in at_line), (name, found.get(name))
        # the build rejects the same file at the same line
        target = root / "manifests" / name
        shutil.copy(broken / name, target)
        res = run_cli(root, "build", "--check")
        target.unlink()
        assert res.exit_code == 2, (name, res.output)
        assert f"{name}:{line}: " in res.stderr, (name, res.stderr)


def test_broken_assetforge_toml_is_flagged_by_taplo_and_rejected(tmp_path):
    root = demo_copy(tmp_path)
    assert run_cli(root, "schema", "--editor").exit_code == 0
    cfg = root / "assetforge.toml"
    good = cfg.read_text()
    cases = [("[kinds.character]\n", "[kinds.character]\nstepz = 4\n", "stepz"),
             ('output_dir = "assets"\n', 'output_dir = 5\n', "string"),
             ("[kinds.tile]\n", "[kinds.tile]\nseed = -5\n", "minimum"),
             ("[project]\n", "[project]\nallow_pickles = true\n", "allow_pickles")]
    for old, new, words in cases:
        text = good.replace(old, new, 1)
        line = text[:text.index(new) + len(new) - 1].count("\n") + 1
        cfg.write_text(text)
        code, found = taplo_lint(root, "assetforge.toml")
        assert code != 0, new
        assert any(ln == line and words in msg for ln, msg in found.get("assetforge.toml", [])), \
            (new, found)
        res = run_cli(root, "build", "--check")
        assert res.exit_code == 2 and f"assetforge.toml:{line}: " in res.stderr, res.output
    cfg.write_text(good)


SEEDS_PER_CASE = 10


@pytest.fixture(scope="module")
def fuzz_base(tmp_path_factory):
    proj = make_base(tmp_path_factory.mktemp("fuzzbase"))
    res = run_cli(proj, "build", "--json")
    assert res.exit_code == 0, res.output
    return proj


def test_every_fuzz_case_assetforge_accepts_passes_taplo(fuzz_base, tmp_path):
    """The fuzz corpus's mutations (each kind on each target, seeds drawn as test_fuzz's
    fixed seed 1 plus a seeded sample); each accepted project is linted with the schemas
    generated for it, all in one taplo run."""
    from assetforge.plugins import load_plugins
    from assetforge.project import load_project
    from assetforge.schema import config_schema, dumps, manifest_schema

    rng = random.Random(18)
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    rules = []
    accepted = rejected = 0
    for kind in KINDS:
        for target in TARGETS:
            for seed in [1] + [rng.randrange(2**32) for _ in range(SEEDS_PER_CASE - 1)]:
                work = tmp_path / "case"
                outcome = run_case(fuzz_base, work, kind, target, seed)
                assert outcome.problems == [], (kind, target, seed)
                if outcome.exit_code == 2:
                    rejected += 1
                    continue
                accepted += 1
                proj = work / "proj"
                case = corpus / f"{kind}-{target.replace('/', '_')}-{seed}"
                (case / "manifests").mkdir(parents=True)
                for src in (proj / "manifests").glob("*.toml"):
                    shutil.copyfile(src, case / "manifests" / src.name)
                shutil.copyfile(proj / "assetforge.toml", case / "assetforge.toml")
                project = load_project(proj)
                plugins = load_plugins(project)
                (case / "m.json").write_text(dumps(manifest_schema(project, plugins)))
                (case / "c.json").write_text(dumps(config_schema(project, plugins)))
                rel = case.relative_to(corpus).as_posix()
                rules.append(f'[[rule]]\ninclude = ["{rel}/manifests/*.toml"]\n'
                             f'schema.path = "./{rel}/m.json"\n\n'
                             f'[[rule]]\ninclude = ["{rel}/assetforge.toml"]\n'
                             f'schema.path = "./{rel}/c.json"\n')
    assert accepted >= 15 and rejected >= 100, (accepted, rejected)
    # a canary under the first case's schema proves the rules reach taplo
    (corpus / "canary" / "manifests").mkdir(parents=True)
    (corpus / "canary" / "manifests" / "a.toml").write_text('[texture.x]\nprompt = "x"\n'
                                                            "colour = 1\n")
    first = rules[0].split('schema.path = "./')[1].split('"')[0]
    rules.append(f'[[rule]]\ninclude = ["canary/manifests/*.toml"]\nschema.path = "./{first}"\n')
    (corpus / ".taplo.toml").write_text('include = ["**/*.toml"]\nexclude = [".taplo.toml"]\n\n'
                                        + "\n".join(rules))
    code, found = taplo_lint(corpus)
    assert set(found) == {"canary/manifests/a.toml"}, json.dumps(found, indent=1)[:3000]
