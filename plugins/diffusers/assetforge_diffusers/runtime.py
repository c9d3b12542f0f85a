"""Device and dtype: resolved at plan time without torch, checked with torch at load time.

The dtype changes output bytes, so it goes into every recipe, and recipes are made while
planning, where torch is never imported. ``dtype = "auto"`` therefore has to be settled
without torch: it follows the device (CUDA -> float16; MPS and CPU -> float32, since fp16 on
MPS gives NaN/black images with some VAEs), and ``device = "auto"`` is detected from facts on
disk: a GPU device node (``/dev/nvidia*``, or ``nvidia-smi`` on Windows; ``/dev/kfd`` for ROCm)
and a GPU build of the installed torch (its ``torch/version.py`` read as text).

That guess can be wrong (a broken driver, a container without the device nodes). It can never
make the cache lie: ``load()`` imports torch and checks the guess; if CUDA was planned but is
not usable, it stops with an error telling the user to set the device, instead of quietly
generating fp32-on-CPU images under a float16 recipe. Machines that settle on different
dtypes get different recipes: to share one cache between CPU and GPU machines, set
``dtype = "float32"`` (or ``ASSETFORGE_DTYPE``) on all of them.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from dataclasses import dataclass
from glob import glob
from pathlib import Path
from typing import TYPE_CHECKING

from assetforge.api import Problem, UserError

if TYPE_CHECKING:
    from assetforge.api import Project

DTYPES = ("float32", "float16", "bfloat16")
_DEVICE = re.compile(r"cpu|mps|cuda(:\d+)?")


@dataclass(frozen=True)
class Runtime:
    device: str  # "cpu", "cuda", "cuda:1" or "mps"
    dtype: str  # one of DTYPES
    detected: bool = False  # the device came from "auto"


def _setting(project: Project | None, key: str) -> str:
    if project is not None:
        return str(project.generation.get(key, "auto"))
    return os.environ.get(f"ASSETFORGE_{key.upper()}") or "auto"


def _bad(project: Project | None, key: str, message: str) -> UserError:
    env = f"ASSETFORGE_{key.upper()}"
    where = project.where("generation", key) if project is not None else None
    if os.environ.get(env):
        message += f" (from the environment variable {env})"
    return UserError([Problem(where, f"generation.{key}", message)])


def resolve(project: Project | None) -> Runtime:
    """The device and dtype this machine will use for ``project``. Torch-free."""
    device = _setting(project, "device").strip().lower()
    dtype = _setting(project, "dtype").strip().lower()
    detected = device == "auto"
    if detected:
        device = detect_device()
    elif not _DEVICE.fullmatch(device):
        raise _bad(project, "device", f"unknown device {device!r}: use auto, cpu, cuda, "
                   "cuda:N or mps")
    if dtype == "auto":
        dtype = "float16" if device.startswith("cuda") else "float32"
    elif dtype not in DTYPES:
        raise _bad(project, "dtype", f"unknown dtype {dtype!r}: use auto, "
                   + ", ".join(DTYPES))
    return Runtime(device, dtype, detected)


def _torch_gpu_build() -> bool:
    """Whether the installed torch is a CUDA or ROCm build, without importing it."""
    spec = importlib.util.find_spec("torch")
    if spec is None or not spec.origin:
        return False
    try:
        text = (Path(spec.origin).parent / "version.py").read_text("utf-8")
    except OSError:
        return False
    return bool(re.search(r"^(cuda|hip)\b[^=\n]*=\s*['\"]", text, re.MULTILINE))


# The first NVIDIA GPU and the ROCm kernel driver: what device = "auto" looks for on Linux.
DEVICE_FILES = ("/dev/nvidia0", "/dev/kfd")


def _gpu_visible() -> bool:
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    if sys.platform.startswith("linux"):
        return bool(glob("/dev/nvidia[0-9]*")) or os.path.exists(DEVICE_FILES[1])
    if sys.platform == "win32":
        return shutil.which("nvidia-smi") is not None
    return False


def detect_device() -> str:
    """``auto`` without torch: cuda, mps or cpu (see the module docstring for the rules)."""
    if _gpu_visible() and _torch_gpu_build():
        return "cuda"
    import platform

    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mps"
    return "cpu"


def check(rt: Runtime, project: Project | None) -> None:
    """Import torch and make sure ``rt`` can run here; a clear error otherwise."""
    import torch

    if rt.device.startswith("cuda"):
        ok = torch.cuda.is_available()
        if ok and ":" in rt.device:
            ok = int(rt.device.split(":")[1]) < torch.cuda.device_count()
    elif rt.device == "mps":
        ok = torch.backends.mps.is_available()
    else:
        ok = True
    if ok:
        return
    how = ("was detected (GPU device files and a GPU build of torch)" if rt.detected
           else "is configured")
    raise _bad(project, "device",
               f"device {rt.device} {how}, but torch {torch.__version__} cannot use it; "
               'set [generation] device = "cpu" in assetforge.toml (or ASSETFORGE_DEVICE=cpu)'
               ", or fix the driver / install a matching torch build")
