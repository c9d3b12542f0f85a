"""``assetforge verify``: re-hashing outputs against records, and regenerating them."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from click.testing import CliRunner
from PIL import Image

from assetforge.cli import cli
from assetforge.engine import build
from assetforge.project import load_project
from assetforge.verify import environment_diff, pixel_diff

MANIFEST = """\
[texture.grass]
prompt = "grass"

[texture.rock]
prompt = "rock"

[character.knight]
prompt = "knight"
views = ["front", "side"]
"""


def verify_json(root: Path, *args: str) -> tuple[int, dict]:
    res = CliRunner().invoke(cli, ["--project", str(root), "verify", "--json", *args])
    assert res.exit_code in (0, 1), res.output
    return res.exit_code, json.loads(res.output)


def by_job(items: list[dict]) -> dict[str, str]:
    return {x["job_id"]: x["status"] for x in items}


def recorded(root: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(root / ".assetforge" / "assetforge.db")
    try:
        return conn.execute("SELECT mode, job_id, status FROM verifications ORDER BY id"
                            ).fetchall()
    finally:
        conn.close()


def test_verify_reports_edited_corrupted_and_missing_outputs(make_project):
    root = make_project({"manifests/a.toml": MANIFEST})
    build(load_project(root))
    code, data = verify_json(root)
    assert code == 0 and data["ok"]
    assert by_job(data["files"]) == {"grass": "ok", "rock": "ok", "knight#front": "ok",
                                     "knight#side": "ok"}

    tex = root / "assets" / "textures"
    im = Image.open(tex / "grass.png").convert("RGB")
    im.putpixel((3, 3), (255, 0, 255))
    im.save(tex / "grass.png")  # an artist's edit: a valid image, other bytes
    raw = (tex / "rock.png").read_bytes()
    (tex / "rock.png").write_bytes(raw[: len(raw) // 2])  # a torn copy
    (root / "assets" / "characters" / "knight_side.png").unlink()

    code, data = verify_json(root)
    assert code == 1 and not data["ok"]
    assert by_job(data["files"]) == {"grass": "modified", "rock": "corrupted",
                                     "knight#front": "ok", "knight#side": "missing"}
    grass = next(f for f in data["files"] if f["job_id"] == "grass")
    assert grass["expected"] != grass["actual"]
    # Recorded: two runs of four files each, in the verifications table.
    rows = recorded(root)
    assert len(rows) == 8 and rows[-4:][0] == ("hash", "grass", "modified")

    res = CliRunner().invoke(cli, ["--project", str(root), "verify"])
    assert res.exit_code == 1
    assert "modified    grass" in res.output and "corrupted   rock" in res.output
    assert "missing     knight#side" in res.output


def test_verify_regenerate_reports_exact_matches(make_project):
    root = make_project({"manifests/a.toml": MANIFEST})
    build(load_project(root))
    code, data = verify_json(root, "--regenerate")
    assert code == 0, data
    assert by_job(data["regenerated"]) == {"grass": "exact", "rock": "exact",
                                           "knight#front": "exact", "knight#side": "exact"}
    assert all(r["environment_diff"] == {} for r in data["regenerated"])  # same machine
    assert not (root / ".assetforge" / "verify").exists()  # exact matches leave no scratch

    code, data = verify_json(root, "--regenerate", "--sample", "1", "--seed", "3")
    assert code == 0
    assert len(data["regenerated"]) == 1 and data["regenerated"][0]["status"] == "exact"
    assert [r for r in recorded(root) if r[0] == "regenerate"][-1][2] == "exact"

    # A stale asset is not regenerated: its record no longer describes the manifest.
    manifest = root / "manifests" / "a.toml"
    manifest.write_text(manifest.read_text().replace('"rock"', '"granite"'))
    code, data = verify_json(root, "--regenerate")
    assert by_job(data["regenerated"])["rock"] == "skipped"
    res = CliRunner().invoke(cli, ["--project", str(root), "verify", "--sample", "2"])
    assert res.exit_code == 2 and "--sample needs --regenerate" in res.output


def test_regeneration_that_differs_is_measured(make_project):
    """The comparison itself, on real outputs: a pixel changed by 7 levels in one channel."""
    root = make_project({"manifests/a.toml": MANIFEST})
    build(load_project(root))
    data = (root / "assets" / "textures" / "grass.png").read_bytes()
    im = Image.open(io.BytesIO(data)).convert("RGB")
    r, g, b = im.getpixel((10, 20))
    im.putpixel((10, 20), (r, g, b + 7 if b < 200 else b - 7))
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    max_diff, mean_diff = pixel_diff(data, buf.getvalue())
    assert max_diff == 7
    assert abs(mean_diff - 7 / (64 * 64 * 3)) < 1e-9
    assert pixel_diff(data, data) == (0.0, 0.0)
    small = io.BytesIO()
    im.resize((32, 32)).save(small, format="PNG")
    assert pixel_diff(data, small.getvalue()) is None

    original = {"torch": "2.14.1", "diffusers": "0.42.1", "device": "cuda:0", "host": "a"}
    now = {"torch": "2.14.1", "diffusers": "0.43.0", "device": "cpu", "host": "b"}
    assert environment_diff(original, now) == {"device": ["cuda:0", "cpu"],
                                               "diffusers": ["0.42.1", "0.43.0"]}


def test_regenerate_names_environment_fields_that_differ_from_the_record(make_project):
    """An output generated elsewhere (say a CUDA runner with other library versions)."""
    root = make_project({"manifests/a.toml": '[texture.grass]\nprompt = "grass"\n'})
    build(load_project(root))
    db = root / ".assetforge" / "assetforge.db"
    conn = sqlite3.connect(db)
    with conn:
        env = json.loads(conn.execute("SELECT environment_json FROM generations").fetchone()[0])
        mine = dict(env)
        env.update(device="cuda:0", torch="2.99.0", host="gpu-runner")
        conn.execute("UPDATE generations SET environment_json=?", (json.dumps(env),))
    conn.close()
    code, data = verify_json(root, "--regenerate")
    assert code == 0
    (reg,) = data["regenerated"]
    assert reg["status"] == "exact"
    assert reg["environment_diff"] == {"device": ["cuda:0", mine["device"]],
                                       "torch": ["2.99.0", mine["torch"]]}
    res = CliRunner().invoke(cli, ["--project", str(root), "verify", "--regenerate"])
    assert f"device cuda:0 → {mine['device']}" in res.output
