"""What can differ between machines without changing the recipe: recorded, never hashed."""

from __future__ import annotations

import functools
import sys
from typing import Any

from .entrypoints import version


def environment(device: str) -> dict[str, Any]:
    """What can differ between machines without changing the recipe: recorded, not hashed."""
    env: dict[str, Any] = {**_process_environment(), "device": device}
    torch = sys.modules.get("torch")
    if torch is not None:  # CPU results depend on the intra-op thread count (by a grey level)
        env["torch_threads"] = torch.get_num_threads()
    return env


@functools.cache
def _process_environment() -> dict[str, str]:
    """Once per process (16 ms a job otherwise): libraries do not change under a running one."""
    import platform  # here, not at the top: a no-op build never records an environment

    env = {"python": platform.python_version(), "platform": platform.platform(),
           "host": platform.node()}
    for dist in ("assetforge", "torch", "diffusers", "transformers", "peft", "spandrel"):
        found = version(dist)
        if found is not None:
            env[dist] = found
    return env
