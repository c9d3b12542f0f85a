"""Mutated projects for the fuzz test (tests/test_fuzz.py) and benchmark (bench/fuzz.py).

A small project of every asset kind, built with a project-local generator that paints a
flat colour (a real plugin through the real hooks, fast and torch-free, so each case can run
a whole ``build``), is copied and one mutation is applied to a manifest or assetforge.toml:
byte flips, truncation, invalid UTF-8, wrong types, deep nesting, huge strings, NUL, odd ids
and outputs, symlinks out of the project. ``run_case`` runs ``build --json`` on it, in
process, and checks what a user would see.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from click.testing import CliRunner

CONFIG = """\
[project]
name = "fuzz"
seed_salt = "fuzz"
plugins_dir = "plugins"
default_model = "flat"

[models.flat]
source = "flat:teal"

[kinds.texture]
width = 16
height = 16
steps = 1
tiling = "none"

[kinds.character]
width = 16
height = 24
"""

MANIFEST = """\
[texture.floor]
prompt = "stone floor"
tags = ["ground", "stone"]

[texture.wall]
prompt = "brick wall"
output = "walls/brick.png"
seed = 42

[character.hero]
prompt = "a knight"
views = ["front", "side"]

[tile.grass]
prompt = "grass"
width = 16
height = 16
guidance = 5.5
"""

FLAT_PLUGIN = '''\
"""A generator that paints the colour named in the model source: fast and torch-free."""
from PIL import Image

from assetforge.api import ModelIdentity, bytes_hash, hookimpl


class Flat:
    name = "flat"
    version = "1.0"
    schedulers = ("euler_a", "solid")

    def handles(self, model):
        return model.source.startswith("flat:")

    def identify(self, model, project):
        return ModelIdentity(bytes_hash(model.source.encode()), "flat")

    def validate_scheduler(self, name, family):
        return None

    def recipe_fields(self, job, model):
        return {}

    def load(self, model, project):
        return model.source[5:]

    def device_of(self, loaded):
        return "cpu"

    def generate(self, loaded, job, ctx):
        return Image.new("RGB", (job.width, job.height), loaded)


@hookimpl
def register_generators():
    return [Flat()]
'''

KINDS = ("flip", "truncate", "bad_utf8", "wrong_type", "deep", "huge", "nul", "odd_id",
         "odd_output", "symlink_out", "splice", "delete_line", "long_line")
# A megabyte line made of one of these, in one of the shapes below: every scan of a line must
# stay linear in its length (a header of spaces once took minutes).
LONG_FILL = [" ", '"', "'", ".", "[", "]", "a.", " .", ". ", "[ ", "] ", "[[", "]]", "\\", "=",
             "#", "a", "\t", '" ', "' .", "a . "]
LONG_SHAPES = ["{x} = 1", "a{x} = 1", "a{x}", '"{x}" = 1', "[{x}]", "[a{x}]", "[{x}", "[[{x}]]",
               "[a{x}b]", 'k = "{x}"', 'k = "{x}', "k = '{x}'", 'k = """{x}"""', "# {x}",
               "k = 1 # {x}", "[texture.{x}]", "k = [{x}]", "{x}"]
LONG_SIZE = 1_000_000
TARGETS = ("manifests/a.toml", "assetforge.toml")
ERROR_LINE = re.compile(r"^error: (.+?):(\d+): ")

ODD_IDS = ["a b", "-x", "ünïcode", "x" * 129, "x" * 255, "", ".", "..", "a/b", "a\\b", "CON",
           "a.png", "1", "_", "x" * 120 + "y"]
ODD_OUTPUTS = ["../x.png", "/tmp/x.png", "a/../../x.png", "x" * 300 + ".png", "a\\u0000.png",
               "C:/x.png", "a//b.png", ".png", "a/.png", "x.PNG", "out.png/", "~/x.png",
               ("d/" * 2100) + "x.png", "ü/ñ.png", "walls/brick.png", "x.png\\n", " .png"]
WRONG_VALUES = ["5", "true", "1.5", '"x"', "[1, 2]", "{ a = 1 }", "[]", "{}", "-1", "1e400",
                "nan", "inf", '""', "1979-05-27T07:32:00Z", "0x10", '"\\u0000"']
KEYS = ["prompt", "width", "height", "steps", "seed", "guidance", "scheduler", "model",
        "views", "tags", "output", "negative_prompt", "output_dir", "database", "manifests",
        "default_model", "plugins_dir", "cache_dir", "source", "threads", "device",
        "allow_pickle", "name"]


def long_line(shape: str, fill: str) -> str:
    """``shape`` with its ``{x}`` made of ``fill``, a megabyte long."""
    return shape.replace("{x}", fill * (LONG_SIZE // len(fill)))


def make_base(root: Path) -> Path:
    """Write the project under ``root / 'proj'`` (and an ``outside`` folder beside it)."""
    proj = root / "proj"
    (proj / "manifests").mkdir(parents=True)
    (proj / "plugins").mkdir()
    (proj / "assetforge.toml").write_text(CONFIG)
    (proj / "manifests" / "a.toml").write_text(MANIFEST)
    (proj / "plugins" / "flat.py").write_text(FLAT_PLUGIN)
    (root / "outside").mkdir()
    (root / "outside" / "keep.txt").write_text("must stay as it is")
    return proj


def mutate(data: bytes, kind: str, rng: random.Random, proj: Path, target: str) -> bytes:
    """``data`` (the target file's bytes) with one mutation of ``kind`` applied."""
    lines = data.split(b"\n")
    pick = rng.randrange(len(lines))

    def at_line(text: str) -> bytes:
        lines.insert(pick, text.encode())
        return b"\n".join(lines)

    def set_key(value: str) -> bytes:
        table = "[texture.floor]" if target.startswith("manifests") else rng.choice(
            ["[project]", "[models.flat]", "[generation]", "[kinds.texture]"])
        key = rng.choice(KEYS)
        return data + f"\n{table}\n{key} = {value}\n".encode() if table.encode() not in data \
            else data.replace(table.encode(), f"{table}\n{key} = {value}".encode(), 1)

    if kind == "flip":
        out = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        return bytes(out)
    if kind == "truncate":
        return data[:rng.randrange(len(data))]
    if kind == "bad_utf8":
        pos = rng.randrange(len(data))
        return data[:pos] + rng.choice([b"\xff", b"\xc3(", b"\xe2\x82", b"\xed\xa0\x80",
                                        b"\xf4\x90\x80\x80", b"\x80"]) + data[pos:]
    if kind == "wrong_type":
        return set_key(rng.choice(WRONG_VALUES))
    if kind == "deep":
        depth = rng.choice([31, 32, 33, 60, 200, 400, 2000])
        opener, closer = rng.choice([("[", "]"), ("{a=", "}")])
        return set_key(opener * depth + "1" + closer * depth)
    if kind == "huge":
        size = rng.choice([99_999, 100_001, 1_000_000])
        if rng.random() < 0.5:
            return set_key('"' + "w" * size + '"')
        return at_line(f"[texture.{'n' * size}]\nprompt = \"x\"")
    if kind == "nul":
        return set_key(rng.choice(['"a\\u0000b"', '"x\\u0000.png"', '["a", "\\u0000"]']))
    if kind == "odd_id":
        name = rng.choice(ODD_IDS)
        quoted = json.dumps(name)
        kind_name = rng.choice(["texture", "character", "tile", "models", "kinds"])
        return data + f"\n[{kind_name}.{quoted}]\nprompt = \"odd\"\n".encode()
    if kind == "odd_output":
        out = rng.choice(ODD_OUTPUTS)
        if target.startswith("manifests"):
            return data + f'\n[texture.odd]\nprompt = "o"\noutput = "{out}"\n'.encode()
        return data.replace(b"[project]", f'[project]\noutput_dir = "{out}"'.encode(), 1)
    if kind == "symlink_out":
        outside = proj.parent / "outside"
        # (not .assetforge: state kept elsewhere through a link is the user's choice)
        link = rng.choice(["assets", "assets/textures", "assets/walls", "manifests/b.toml",
                           "assets/characters", "assets/textures/floor.png"])
        path = proj / link
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif path.exists() or path.is_symlink():
            path.unlink()
        os.symlink(outside / "keep.txt" if link.endswith((".toml", ".png")) else outside, path)
        return data
    if kind == "splice":
        other = rng.choice([CONFIG, MANIFEST]).encode()
        cut = rng.randrange(len(other))
        return data[:rng.randrange(len(data))] + other[cut:]
    if kind == "long_line":
        return at_line(long_line(rng.choice(LONG_SHAPES), rng.choice(LONG_FILL)))
    if kind == "delete_line":
        del lines[pick]
        return b"\n".join(lines)
    raise ValueError(kind)


def _tree(folder: Path) -> dict[str, str]:
    """path → sha256 of every file under ``folder`` (links not followed)."""
    out = {}
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            p = Path(dirpath) / name
            try:
                out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
            except OSError:
                out[str(p)] = "unreadable"
    return out


def _db_bytes(proj: Path) -> str:
    h = hashlib.sha256()
    for suffix in ("", "-wal"):
        p = proj / ".assetforge" / f"assetforge.db{suffix}"
        if p.is_file() and not p.is_symlink():
            h.update(p.read_bytes())
        h.update(b"|")
    return h.hexdigest()


@dataclass
class Outcome:
    exit_code: int
    stdout: str
    stderr: str
    problems: list[str] = field(default_factory=list)  # broken invariants

    @property
    def located(self) -> bool:
        """Every error line names a file and a line (exit 2 only)."""
        errors = [ln for ln in self.stderr.splitlines() if ln.startswith("error: ")]
        return bool(errors) and all(ERROR_LINE.match(e) and not e.split(":")[2] == "0"
                                    for e in errors)


def run_case(base: Path, work: Path, kind: str, target: str, seed: int,
             line: str | None = None) -> Outcome:
    """Copy ``base`` (a built project) to ``work``, mutate it, run ``build --json`` in
    process and check the invariants. ``work`` is replaced. ``line``: insert this line (at a
    place ``seed`` picks) instead of a mutation of ``kind``."""
    from assetforge.cli import cli

    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(base.parent, work, symlinks=True)
    proj = work / "proj"
    rng = random.Random(seed)
    path = proj / target
    data = path.read_bytes()
    if line is not None:
        lines = data.split(b"\n")
        lines.insert(rng.randrange(len(lines) + 1), line.encode())
        data = b"\n".join(lines)
    else:
        data = mutate(data, kind, rng, proj, target)
    path.write_bytes(data)
    outside_before = _tree(work / "outside")
    siblings = sorted(os.listdir(work))
    db_before = _db_bytes(proj)
    res = CliRunner().invoke(cli, ["--project", str(proj), "build", "--json"],
                             catch_exceptions=True)
    out = Outcome(res.exit_code, res.stdout, res.stderr)
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        import traceback

        out.problems.append("traceback: " + "".join(traceback.format_exception(
            res.exception))[-2000:])
    if "Traceback" in res.output:
        out.problems.append("traceback printed")
    if res.exit_code not in (0, 1, 2):
        out.problems.append(f"exit code {res.exit_code}")
    try:
        json.loads(res.stdout)
    except ValueError:
        out.problems.append(f"stdout is not JSON: {res.stdout[:200]!r}")
    if _tree(work / "outside") != outside_before or sorted(os.listdir(work)) != siblings:
        out.problems.append("a file was written outside the project")
    if res.exit_code == 2:
        if not out.located:
            out.problems.append("exit 2 without file:line: " + res.stderr[:500])
        if _db_bytes(proj) != db_before:
            out.problems.append("database changed for rejected input")
    return out
