"""Benchmark: an 8-frame animation at 64 px on the tiny SD 1.5, against one plain generation
of the same size, in one process.

* poses: one ControlNet job per frame (``animations.walk = { poses = … }``), wall time per
  frame ÷ one plain txt2img (target <= 1.1), and ÷ one ControlNet job of a view with a pose
  (what the ControlNet itself costs: a frame should add nothing to it);
* poses batched (``--batch N``, ``[models.m] batch = N``): the frames N per ControlNet call,
  each from its own pose, wall time per frame ÷ one plain txt2img;
* motion: all frames in one AnimateDiff call on the tiny motion adapter (``motion = …``),
  wall time per frame ÷ one plain txt2img (reported);
* the largest frame-to-frame anchor jitter (last → first included) of the pose frames after
  a colour-key cutout and anchor alignment (the animation plugin), and before alignment.

Jobs come from the real planner (manifest → specs → jobs with inputs); generation is timed
through the generator (``DiffusersGenerator.generate``), median of --repeat runs.

    .venv/bin/python bench/animation.py [--size 64] [--frames 8] [--steps 4] [--repeat 3]
                                        [--batch 4]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=4, help="pose frames per call (1: skip)")
    args = ap.parse_args()

    import numpy as np
    import torch
    from assetforge_animation.anchor import align, anchor, jitter
    from assetforge_cutout.matte import key_cutout
    from assetforge_diffusers import animatediff
    from assetforge_diffusers.generator import DiffusersGenerator
    from PIL import Image, ImageDraw

    from assetforge.api import GenerationContext
    from assetforge.manifest import load_specs
    from assetforge.plan import make_plan
    from assetforge.plugins import load_plugins
    from assetforge.project import load_project

    torch.set_num_threads(args.threads)
    root = Path(tempfile.mkdtemp(prefix="af-bench-anim-"))
    (root / "assetforge.toml").write_text(
        '[project]\nname = "b"\ndefault_model = "m"\n[models.m]\nsource = "builtin:tiny-sd15"\n'
        '[controlnets.pose]\nsource = "builtin:tiny-controlnet-sd15"\n'
        '[motion.tiny]\nsource = "builtin:tiny-motion-sd15"\n')
    (root / "poses").mkdir()
    s = args.size
    for k in range(args.frames):
        im = Image.new("RGB", (s, s))
        x = s // 2 + round(s / 5 * np.sin(2 * np.pi * k / args.frames))
        ImageDraw.Draw(im).line((s // 2, s // 8, s // 2, s // 2, x, s - 4), fill="white",
                                width=3)
        im.save(root / "poses" / f"{k:02d}.png")
    common = f'width = {s}\nheight = {s}\nsteps = {args.steps}\nscheduler = "euler"\n'
    (root / "manifests").mkdir()
    (root / "manifests" / "m.toml").write_text(
        f'[texture.plain]\nprompt = "a knight"\nseed = 7\n{common}\n'
        f'[character.walker]\nprompt = "a knight"\nseed = 7\n{common}'
        'views.front = { control = { image = "poses/00.png", model = "pose" } }\n'
        'animations.walk = { poses = "poses/*.png", control = { model = "pose" } }\n'
        f'animations.idle = {{ frames = {args.frames}, motion = "tiny" }}\n')
    project = load_project(root)
    plugins = load_plugins(project)
    plan = make_plan(project, plugins, load_specs(project, plugins))
    jobs = {jp.job.job_id: jp for jp in plan.jobs()}
    plain = jobs["plain"]
    view = jobs["walker#front"]  # one ControlNet job with a pose: what a pose frame costs
    poses = [jobs[f"walker#walk/{k}"] for k in range(args.frames)]
    motion = [jobs[f"walker#idle/{k}"] for k in range(args.frames)]

    gen = DiffusersGenerator()
    gen.identify(project.models["m"], project)
    pipe = gen.load(project.models["m"], project)

    def generate(jp):
        return gen.generate(pipe, jp.job, GenerationContext(project, jp.job, jp.recipe or {},
                                                            pipe, gen.name))

    generate(plain)
    generate(poses[0])  # ControlNet loaded, pipelines derived: one-off costs, not timed
    animatediff._state(pipe).frames = None
    generate(motion[0])

    def timed(fn) -> float:
        t = time.perf_counter()
        fn()
        return time.perf_counter() - t

    def motion_all() -> list:
        animatediff._state(pipe).frames = None  # a new animation: one call makes all frames
        return [generate(j) for j in motion]

    plain_s = statistics.median(timed(lambda: generate(plain)) for _ in range(args.repeat))
    view_s = statistics.median(timed(lambda: generate(view)) for _ in range(args.repeat))
    pose_s = statistics.median(timed(lambda: [generate(j) for j in poses])
                               for _ in range(args.repeat)) / args.frames
    motion_s = statistics.median(timed(motion_all) for _ in range(args.repeat)) / args.frames

    batched_s = None
    if args.batch > 1:  # the same frames planned with [models.m] batch = N
        config = root / "assetforge.toml"
        config.write_text(config.read_text().replace(
            'source = "builtin:tiny-sd15"\n', f'source = "builtin:tiny-sd15"\nbatch = '
            f'{args.batch}\n', 1))
        bproject = load_project(root)
        bplan = make_plan(bproject, load_plugins(bproject), load_specs(bproject, plugins))
        bjobs = {jp.job.job_id: jp for jp in bplan.jobs()}
        bposes = [bjobs[f"walker#walk/{k}"] for k in range(args.frames)]
        gen.identify(bproject.models["m"], bproject)

        def batched() -> None:
            for i in range(0, len(bposes), args.batch):
                group = bposes[i:i + args.batch]
                gen.generate_batch(pipe, [jp.job for jp in group], [GenerationContext(
                    bproject, jp.job, jp.recipe or {}, pipe, gen.name) for jp in group])

        batched()  # warm-up
        batched_s = statistics.median(timed(batched) for _ in range(args.repeat)) / args.frames

    frames = [generate(j) for j in poses]
    cut = [Image.fromarray(key_cutout(f, 32, 1, False).rgba, "RGBA") for f in frames]
    aligned = [anchor(np.asarray(align(c)[0])[..., 3]) for c in cut]
    raw = [anchor(np.asarray(c)[..., 3]) for c in cut]
    print(f"tiny sd15, {s}px, {args.frames} frames, {args.steps} steps, {args.threads} "
          f"thread(s), median of {args.repeat}")
    print(f"plain generation            {plain_s:8.4f} s")
    print(f"controlnet view (1 pose)    {view_s:8.4f} s  {view_s / plain_s:.2f} x plain")
    print(f"poses, per frame (1 job)    {pose_s:8.4f} s  {pose_s / plain_s:.2f} x plain "
          f"(target <= 1.1), {pose_s / view_s:.2f} x a controlnet view")
    if batched_s is not None:
        print(f"poses, per frame (batch {args.batch})  {batched_s:8.4f} s  "
              f"{batched_s / plain_s:.2f} x plain (target <= 1.1)")
    print(f"motion, per frame (1 call)  {motion_s:8.4f} s  {motion_s / plain_s:.2f} x plain")
    if all(a is not None for a in aligned):
        print(f"anchor jitter, aligned      {jitter(aligned, closed=True):8.3f} px  "
              f"(before alignment {jitter(raw, closed=True):.3f} px)")
    else:
        print("anchor jitter: a frame has no opaque pixel after the cutout")


if __name__ == "__main__":
    sys.exit(main())
