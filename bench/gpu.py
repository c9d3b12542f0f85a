"""Benchmark for a lent GPU: full-size SD 1.5 with random weights, fp16, 512², 20 steps.

One script, under 8 minutes on one GPU, nothing downloaded: the SD 1.5 architecture (UNet
320/640/1280/1280, 768-wide 12-layer CLIP text encoder, 4-block VAE) is built locally with
seeded random weights and saved as a diffusers folder. It prints:

* images/s of raw diffusers (one pipeline, per-image CPU generators) at batch 1 and 4;
* images/s of ``assetforge build`` (the engine in this process, model loaded first) with
  ``batch = 1`` and ``batch = 4``, and the ratio to raw diffusers;
* peak VRAM and images/s per memory mode (``fast``, ``balanced``, ``low``);
* ``compile = true`` against eager: first-call (compile) time and steady images/s;
* ``compile = true`` with two LoRA style packs alternating image by image: images/s and the
  graphs dynamo compiled after the first image of each style (0: the styles hot-swapped).

Each section is skipped once the time budget (``--budget``, 420 s) is spent, saying so. On a
machine without CUDA it says so and exits 0. ``--smoke`` runs every section on the CPU with the
tiny model, 64 px, 2 steps, skipping what needs CUDA (offload, peak VRAM): a check that the
script itself works, not a measurement.

    .venv/bin/python bench/gpu.py [--images 8] [--steps 20] [--size 512] [--budget 420] [--smoke]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
os.environ.setdefault("ASSETFORGE_MODEL_CACHE", str(REPO / ".cache" / "models"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ASSETFORGE_PLUGINS", "diffusers")

STARTED = time.perf_counter()


def elapsed() -> float:
    return time.perf_counter() - STARTED


def build_sd15(folder: Path, device: str, smoke: bool) -> Path:
    """A diffusers folder with the SD 1.5 architecture and seeded random weights (fp16)."""
    import torch
    from assetforge_diffusers.tiny import ensure_tiny_model
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    if smoke:  # the tiny model is the smoke test's "full size"
        return ensure_tiny_model("tiny-sd15")
    tokenizer = CLIPTokenizer.from_pretrained(ensure_tiny_model("tiny-sd15") / "tokenizer")
    torch.manual_seed(0)
    with torch.device(device):  # initialise on the GPU: seconds instead of a minute on CPU
        unet = UNet2DConditionModel(
            sample_size=64, in_channels=4, out_channels=4, layers_per_block=2,
            block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
            attention_head_dim=8,
            down_block_types=("CrossAttnDownBlock2D", "CrossAttnDownBlock2D",
                              "CrossAttnDownBlock2D", "DownBlock2D"),
            up_block_types=("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D",
                            "CrossAttnUpBlock2D"))
        vae = AutoencoderKL(
            in_channels=3, out_channels=3, latent_channels=4, layers_per_block=2,
            block_out_channels=(128, 256, 512, 512), sample_size=512,
            down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4)
        text = CLIPTextModel(CLIPTextConfig(
            vocab_size=max(49408, len(tokenizer)), hidden_size=768, intermediate_size=3072,
            num_hidden_layers=12, num_attention_heads=12, max_position_embeddings=77,
            projection_dim=768, hidden_act="quick_gelu"))
    for module in (unet, vae, text):
        with torch.no_grad():  # random init is large for some layers: keep activations finite
            for p in module.parameters():
                p.mul_(0.5)
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012,
                                                beta_schedule="scaled_linear")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None,
                                   feature_extractor=None, requires_safety_checker=False)
    pipe.to(dtype=torch.float16)
    pipe.save_pretrained(folder, safe_serialization=True)
    del pipe, unet, vae, text
    torch.cuda.empty_cache()
    return folder


def prompts(n: int) -> list[str]:
    return [f"a game texture of stone and moss, variant {i}" for i in range(n)]


def raw_diffusers(folder: Path, device: str, dtype: Any, args: argparse.Namespace,
                  batch: int) -> float:
    """images/s of a plain diffusers loop at ``batch`` (warm-up call not counted)."""
    import diffusers
    import torch
    from assetforge_diffusers.progress import quiet

    with quiet():
        pipe = diffusers.StableDiffusionPipeline.from_pretrained(
            folder, local_files_only=True, safety_checker=None, requires_safety_checker=False,
            torch_dtype=dtype).to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = diffusers.EulerAncestralDiscreteScheduler.from_config(pipe.scheduler.config)
    size, n = args.size, args.images
    shape = (1, 4, size // 8, size // 8)

    def call(seeds: list[int]) -> None:
        gens = [torch.Generator("cpu").manual_seed(s) for s in seeds]
        latents = torch.cat([torch.randn(shape, generator=g) for g in gens]).to(device, dtype)
        pipe(prompt=prompts(len(seeds)), width=size, height=size,
             num_inference_steps=args.steps, guidance_scale=7.0, latents=latents,
             generator=gens if len(gens) > 1 else gens[0], output_type="pil")

    call(list(range(batch)))  # warm-up
    sync(device)
    started = time.perf_counter()
    for start in range(0, n, batch):
        call(list(range(start, start + batch)))
    sync(device)
    took = time.perf_counter() - started
    return n / took  # the pipeline is freed on return (main calls free())


def project(root: Path, folder: Path, args: argparse.Namespace, device: str,
            model_keys: str) -> Path:
    (root / "manifests").mkdir(parents=True)
    dtype = "float32" if args.smoke else "float16"
    (root / "assetforge.toml").write_text(
        f'[project]\nname = "gpu-bench"\nseed_salt = "gpu"\n\n'
        f'[generation]\ndevice = "{device}"\ndtype = "{dtype}"\n\n'
        f'[models.sd15]\nsource = "{folder}"\n{model_keys}\n\n'
        f"[kinds.texture]\nwidth = {args.size}\nheight = {args.size}\nsteps = {args.steps}\n"
        'scheduler = "euler_a"\n')
    (root / "manifests" / "t.toml").write_text("".join(
        f'[texture.t{i}]\nprompt = "{p}"\nseed = {i}\n\n'
        for i, p in enumerate(prompts(args.images))))
    return root


def style_project(root: Path, folder: Path, args: argparse.Namespace, device: str) -> Path:
    """``compile = true`` and two LoRA style packs (random rank-8 LoRAs for this model), the
    images alternating between them."""
    from assetforge_lora.testing import save_peft_lora

    project(root, folder, args, device, "compile = true")
    for i, style in enumerate(("ink", "moss")):
        pack = root / "styles" / style
        lora = save_peft_lora(folder, pack / f"{style}.safetensors", seed=i + 1, rank=8)
        (pack / "style.toml").write_text(f'family = "sd15"\n\n[[lora]]\nfile = "{lora.name}"\n')
    (root / "manifests" / "t.toml").write_text("".join(
        f'[texture.t{i}]\nprompt = "{p}"\nseed = {i}\nstyle = "{("ink", "moss")[i % 2]}"\n\n'
        for i, p in enumerate(prompts(args.images))))
    return root


def assetforge_build(root: Path, device: str, plugins: str = "diffusers",
                     per_image: list[float] | None = None) -> tuple[float, float, float]:
    """(images/s of one build, seconds of its first image, peak VRAM GiB); model loaded
    first, outside the timing, as a build of many assets amortises it. ``per_image``: gets
    dynamo's count of compiled graphs after each image."""
    import torch

    from assetforge.engine import Builder
    from assetforge.project import load_project

    os.environ["ASSETFORGE_PLUGINS"] = plugins
    builder = Builder(load_project(root))
    try:
        plan = builder.plan()
        jobs = list(plan.jobs())
        jp = jobs[0]
        assert jp.generator is not None and jp.model is not None
        builder.models.get(builder.project, jp.job.model, jp.generator, jp.model.hash)
        if device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        first = [0.0]

        def progress(i: int, _n: int, job_id: str) -> None:
            first[0] = first[0] or (time.perf_counter() - started if i == 1 else 0.0)
            if per_image is not None and job_id:
                from torch._dynamo.utils import counters

                per_image.append(counters["stats"]["unique_graphs"])

        result = builder.build(progress=progress)
        sync(device)
        took = time.perf_counter() - started
        peak = torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else 0.0
    finally:
        builder.close()
        builder.models = None  # type: ignore[assignment]
        free(device)
    failed = [a for a in result.assets if a.status != "built"]
    if failed:
        raise SystemExit(f"{len(failed)} assets failed, e.g. {failed[0].id}: {failed[0].reason}")
    return len(jobs) / took, first[0], peak


def sync(device: str) -> None:
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


def free(device: str) -> None:
    import gc

    gc.collect()
    if device == "cuda":
        import torch

        torch.cuda.empty_cache()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--budget", type=float, default=420.0)
    parser.add_argument("--smoke", action="store_true")
    args = parser.parse_args()
    import torch

    if args.smoke:
        args.size, args.steps, args.images = 64, 2, 8
        device, dtype = "cpu", torch.float32
    elif not torch.cuda.is_available():
        print("bench/gpu.py: no CUDA device here (torch "
              f"{torch.__version__}, cuda available: False); it measures a GPU, so nothing "
              "to do on this CPU-only machine. `--smoke` checks the script on the CPU.")
        return 0
    else:
        device, dtype = "cuda", torch.float16
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}")
    print(f"SD 1.5 architecture, random weights, {args.size}², {args.steps} steps, "
          f"{args.images} images per run, {'fp32 CPU smoke' if args.smoke else 'fp16'}")

    def over(section: str) -> bool:
        if elapsed() > args.budget:
            print(f"{section}: skipped, the {args.budget:.0f} s budget is spent")
            return True
        return False

    with tempfile.TemporaryDirectory() as tmp:
        folder = build_sd15(Path(tmp) / "sd15", device, args.smoke)
        print(f"model built in {elapsed():.1f} s")
        raw = {}
        for batch in (1, 4):
            if not over(f"raw diffusers batch {batch}"):
                raw[batch] = raw_diffusers(folder, device, dtype, args, batch)
                free(device)
                print(f"raw diffusers      batch {batch}: {raw[batch]:7.2f} img/s")
        warm = argparse.Namespace(**{**vars(args), "images": 1, "steps": 1})
        assetforge_build(project(Path(tmp) / "warm", folder, warm, device, ""), device)
        for batch in (1, 4):  # after a warm-up build: imports and first-use costs not counted
            if over(f"assetforge build batch {batch}"):
                continue
            root = project(Path(tmp) / f"b{batch}", folder, args, device, f"batch = {batch}")
            ips, _first, peak = assetforge_build(root, device)
            ratio = f", {raw[batch] / ips:.3f}x raw's time" if batch in raw else ""
            print(f"assetforge build   batch {batch}: {ips:7.2f} img/s (peak {peak:.2f} GiB)"
                  + ratio)
        for mode in ("fast", "balanced", "low"):
            if args.smoke and mode != "fast":
                print(f"memory = {mode!r}: needs CUDA (offload), skipped in --smoke")
                continue
            if over(f"memory = {mode!r}"):
                continue
            root = project(Path(tmp) / f"m-{mode}", folder, args, device, f'memory = "{mode}"')
            ips, _first, peak = assetforge_build(root, device)
            print(f"memory = {mode!r:<10}: {ips:7.2f} img/s, peak VRAM {peak:.2f} GiB")
        for compiled in (False, True):
            if over(f"compile = {str(compiled).lower()}"):
                continue
            root = project(Path(tmp) / f"c-{compiled}", folder, args, device,
                           f"compile = {str(compiled).lower()}")
            ips, first, _peak = assetforge_build(root, device)
            print(f"compile = {str(compiled).lower():<5}: first image {first:6.1f} s "
                  f"(compiles), {ips:7.2f} img/s over the build")
        if not over("compile = true with LoRA styles"):
            graphs: list[int] = []
            root = style_project(Path(tmp) / "styles", folder, args, device)
            ips, first, _peak = assetforge_build(root, device, "diffusers,lora", graphs)
            later = graphs[-1] - graphs[1] if len(graphs) > 2 else 0
            print(f"compile = true, 2 LoRA styles alternating: first image {first:6.1f} s, "
                  f"{ips:7.2f} img/s; graphs compiled after both styles ran: {later} "
                  f"(0: hot-swapped)")
    print(f"total {elapsed():.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
