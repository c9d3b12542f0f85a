"""AnimateDiff on the tiny motion adapter (builtin:tiny-motion-sd15) with the tiny SD 1.5:
closed loops, no leak into other assets, and the adapter built to fit the tiny UNet."""

from __future__ import annotations

import statistics
from pathlib import Path

import numpy as np
import pytest
from helpers import build_json

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CONFIG = """
[motion.tiny]
source = "builtin:tiny-motion-sd15"
"""

N = 8


def frames(root: Path, asset: str, name: str) -> list[np.ndarray]:
    from PIL import Image

    out = root / "assets" / "characters"
    return [np.asarray(Image.open(out / f"{asset}_{name}_{k:02d}.png").convert("RGB"),
                       dtype=np.float64) for k in range(N)]


def steps_and_wrap(fr: list[np.ndarray]) -> tuple[float, float]:
    steps = [float(np.abs(b - a).mean()) for a, b in zip(fr, fr[1:], strict=False)]
    return statistics.median(steps), float(np.abs(fr[0] - fr[-1]).mean())


def test_a_loop_closes_and_an_open_animation_does_not(make_project) -> None:
    manifest = "".join(
        f'[character.{cid}]\nprompt = "a ghost"\nseed = 11\n'
        f'animations.float = {{ frames = {N}, motion = "tiny", loop = "{loop}" }}\n\n'
        for cid, loop in (("looped", "loop"), ("open", "once")))
    root = make_project({"manifests/a.toml": manifest}, extra_config=CONFIG)
    data = build_json(root)
    assert data["summary"]["failed"] == 0, data
    median, wrap = steps_and_wrap(frames(root, "looped", "float"))
    assert median > 0
    assert wrap <= 1.5 * median, (wrap, median)
    # The same frames made as an open animation: the last frame is far from the first, so
    # the measure tells a closed cycle from an open one.
    median_open, wrap_open = steps_and_wrap(frames(root, "open", "float"))
    assert wrap_open > 1.5 * median_open, (wrap_open, median_open)


def test_an_animation_does_not_change_the_next_plain_asset(make_project) -> None:
    plain = '[texture.wall]\nprompt = "a wall"\n'
    ghost = ('[character.ghost]\nprompt = "a ghost"\n'
             'animations.idle = { frames = 3, motion = "tiny" }\n\n')
    both = make_project({"manifests/a.toml": ghost + plain}, extra_config=CONFIG, name="both")
    alone = make_project({"manifests/a.toml": plain}, extra_config=CONFIG, name="alone")
    build_json(both)
    build_json(alone)
    wall = "assets/textures/wall.png"
    assert (both / wall).read_bytes() == (alone / wall).read_bytes()


def test_the_tiny_adapter_fits_the_tiny_unet_and_moves_the_frames() -> None:
    import torch
    from assetforge_diffusers import tiny, tiny_motion
    from diffusers import MotionAdapter, UNet2DConditionModel, UNetMotionModel

    unet = UNet2DConditionModel.from_pretrained(tiny.ensure_tiny_model("tiny-sd15") / "unet")
    adapter = MotionAdapter.from_pretrained(tiny_motion.ensure_tiny_motion("tiny-motion-sd15"))
    motion = UNetMotionModel.from_unet2d(unet, adapter).eval()
    gen = torch.Generator("cpu").manual_seed(0)
    sample = torch.randn((1, 4, 4, 8, 8), generator=gen)
    text = torch.randn((4, 77, 32), generator=gen)  # one per frame
    with torch.no_grad():
        out = motion(sample, 10, encoder_hidden_states=text).sample
        # frames mix: change one frame's input and the others' outputs change
        moved = sample.clone()
        moved[:, :, 0] += 1
        out2 = motion(moved, 10, encoder_hidden_states=text).sample
    assert out.shape == sample.shape
    assert (out2[:, :, 1:] - out[:, :, 1:]).abs().max() > 1e-3


def test_a_style_lora_on_the_loaded_unet_reaches_the_frames(tmp_path) -> None:
    """The motion UNet runs on the loaded UNet's own 2D layers: a LoRA loaded there (as the
    lora plugin does, around each job) changes the frames, and unloading it gives the same
    frames as before, byte for byte."""
    from assetforge_diffusers import animatediff, tiny
    from assetforge_diffusers.generator import DiffusersGenerator
    from assetforge_lora.testing import save_peft_lora

    from assetforge.api import Animation, AssetSpec, Job, SourceFile
    from assetforge.project import load_project

    (tmp_path / "assetforge.toml").write_text(
        '[project]\nname = "t"\n[models.m]\nsource = "builtin:tiny-sd15"\n' + CONFIG)
    project = load_project(tmp_path)
    gen = DiffusersGenerator()
    gen.identify(project.models["m"], project)
    pipe = gen.load(project.models["m"], project)
    anim = Animation("idle", 3, (), 10.0, "loop", "idle", "tiny", None)
    spec = AssetSpec("g", "character", {}, SourceFile(tmp_path / "m.toml", ""))
    job = Job("g", "character", "idle/0", "a ghost", "", 3, 64, 64, 2, 7.0, "euler", "m",
              "g.png", spec)

    def frames() -> list[bytes]:
        return [f.tobytes() for f in animatediff.run(pipe, job, anim, project)]

    plain = frames()
    lora = save_peft_lora(tiny.ensure_tiny_model("tiny-sd15"), tmp_path / "s.safetensors", 1)
    pipe.load_lora_weights(str(lora), adapter_name="s")
    styled = frames()
    pipe.unload_lora_weights()
    assert styled != plain
    assert frames() == plain
    unet = animatediff._pipeline(pipe, project, anim).unet
    assert unet.down_blocks[1].attentions is pipe.unet.down_blocks[1].attentions


def test_more_frames_than_the_adapter_covers_is_refused_at_its_line(make_project) -> None:
    """The tiny adapter's positional encoding covers 32 frames: 33 is a manifest mistake
    (file, line, key), found before anything is generated, not a tensor error mid-build."""
    from helpers import run_cli

    ghost = ('[character.ghost]\nprompt = "a ghost"\n'
             'animations.idle = { frames = 33, motion = "tiny" }\n')
    root = make_project({"manifests/a.toml": ghost}, extra_config=CONFIG)
    res = run_cli(root, "build")
    assert res.exit_code == 2
    assert ("manifests/a.toml:3: character.ghost.animations.idle.frames: 33 frames, but motion "
            "adapter 'tiny' makes at most 32") in res.output
    assert not (root / "assets").exists()
    ok = make_project({"manifests/a.toml": ghost.replace("33", "32")}, extra_config=CONFIG,
                      name="ok")
    assert run_cli(ok, "build", "--dry-run").exit_code == 0
