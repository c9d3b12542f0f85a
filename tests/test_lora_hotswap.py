"""LoRA switches on a compiled denoiser (``compile = true``) hot-swap: no recompile per style.

Real torch.compile (inductor, on the CPU) on the tiny SD 1.5 model; dynamo's own count of the
graphs it compiled tells whether a switch recompiled.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import BASE_CONFIG
from helpers import run_cli
from test_lora import add_pack

from assetforge.engine import Builder
from assetforge.project import load_project

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MANIFEST = """\
[texture.a]
prompt = "stone floor"
style = "ink"

[texture.b]
prompt = "brick wall"

[texture.c]
prompt = "wooden door"
style = "moss"

[texture.d]
prompt = "iron gate"
style = "ink"

[texture.e]
prompt = "mossy ink"
styles = [{name = "moss", weight = 0.8}, {name = "ink", weight = 0.5}]

[texture.f]
prompt = "moss again"
style = "moss"

[texture.g]
prompt = "plain again"
"""

NARROW_FIRST = """\
[texture.h]
prompt = "narrow look"
style = "narrow"

[texture.i]
prompt = "ink after narrow"
style = "ink"

[texture.j]
prompt = "narrow after ink"
style = "narrow"
"""


@pytest.fixture
def loras(sd15, tmp_path) -> dict[str, Path]:
    from assetforge_lora import testing

    return {"ink": testing.save_peft_lora(sd15, tmp_path / "l" / "ink.safetensors", seed=1),
            "moss": testing.save_peft_lora(sd15, tmp_path / "l" / "moss.safetensors", seed=2,
                                           rank=2, alpha=3.0),  # another rank: padded
            # other target layers: cannot hot-swap, loaded afresh into its slot
            "narrow": testing.save_peft_lora(sd15, tmp_path / "l" / "narrow.safetensors",
                                             seed=3, targets=("to_q",))}


def metrics(root) -> dict[str, dict]:
    with sqlite3.connect(root / ".assetforge" / "assetforge.db") as db:
        return {a: json.loads(m) for a, m in db.execute(
            "SELECT asset_id, metrics_json FROM generations ORDER BY id")}


def compiled_project(make_project, monkeypatch, manifest: str,
                     packs: dict[str, tuple[Path, float]]) -> Path:
    """A project whose model has ``compile = true``, with the style packs ``packs``."""
    monkeypatch.setenv("ASSETFORGE_PLUGINS", "diffusers,lora")
    config = BASE_CONFIG.replace('source = "builtin:tiny-sd15"\n',
                                 'source = "builtin:tiny-sd15"\ncompile = true\n')
    root = make_project({"manifests/game.toml": manifest}, config=config)
    for name, (lora, weight) in packs.items():
        add_pack(root, name, lora, weight=weight)
    return root


def regenerated(root: Path, *ids: str) -> dict[str, str]:
    """``verify --regenerate IDS``, in this order: each job's status."""
    res = run_cli(root, "verify", "--regenerate", "--json", *ids)
    assert res.exit_code == 0, res.output
    return {r["job_id"]: r["status"] for r in json.loads(res.stdout)["regenerated"]}


def test_compiled_denoiser_hot_swaps_styles_without_recompiling(make_project, loras,
                                                                monkeypatch):
    """Switching styles back and forth compiles no new graph once a slot exists (only a job
    with two LoRA files adds a slot, and with it one recompile); every image is the same
    whatever ran before it: verify --regenerate, in a new pipeline that compiles afresh and
    meets the jobs in another order (b first, before any LoRA is loaded), remakes each byte
    for byte."""
    from torch._dynamo.utils import counters

    root = compiled_project(make_project, monkeypatch, MANIFEST,
                            {"ink": (loras["ink"], 1.0), "moss": (loras["moss"], 0.5)})

    graphs: dict[str, int] = {}

    def progress(_n: int, _total: int, job_id: str) -> None:
        if job_id:
            graphs[job_id] = counters["stats"]["unique_graphs"]

    builder = Builder(load_project(root))
    try:
        result = builder.build(progress=progress)
    finally:
        builder.close()
    assert result.summary()["built"] == 7, result.as_dict()
    assert list(graphs) == list("abcdefg")  # built in manifest order, one at a time
    assert graphs["a"] > 0  # compiled at the first image
    assert graphs["b"] == graphs["c"] == graphs["d"] == graphs["a"]  # off, swap, swap back
    assert graphs["g"] == graphs["f"] == graphs["e"]  # two slots: then nothing new either

    m = metrics(root)
    assert m["a"]["lora_slot_loads"] == 1 and m["a"]["lora_hotswaps"] == 0
    assert m["c"]["lora_hotswaps"] == 1 and m["c"]["lora_slot_loads"] == 0
    assert m["d"]["lora_hotswaps"] == 1
    assert m["e"]["lora_slot_loads"] == 1  # the second slot
    assert "lora_hotswaps" not in m["b"]  # no style: the slots are only scaled to 0

    assert regenerated(root, "b", "c", "e", "a") == dict.fromkeys("abce", "exact")


def test_a_file_for_more_layers_than_its_slot_is_loaded_afresh(make_project, loras,
                                                               monkeypatch):
    """A slot holding a LoRA of fewer layers (to_q only) cannot take one of more layers by a
    swap: that file is loaded afresh into the slot (counted); the other way round swaps (the
    layers it lacks are zeroed). Each image regenerates byte for byte in another order."""
    root = compiled_project(make_project, monkeypatch, NARROW_FIRST,
                            {"ink": (loras["ink"], 1.0), "narrow": (loras["narrow"], 1.0)})
    assert run_cli(root, "build").exit_code == 0
    m = metrics(root)
    assert (m["h"]["lora_slot_loads"], m["h"]["lora_hotswaps"]) == (1, 0)
    assert (m["i"]["lora_slot_loads"], m["i"]["lora_hotswaps"]) == (1, 0)  # more layers
    assert (m["j"]["lora_slot_loads"], m["j"]["lora_hotswaps"]) == (0, 1)  # fewer: swapped

    assert regenerated(root, "i", "j", "h") == dict.fromkeys("hij", "exact")
