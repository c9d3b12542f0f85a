"""A tiny, deterministic ESRGAN for tests and demos (no weights are downloaded).

Built with spandrel's own RRDBNet class (16 filters, 2 blocks, DESIGN.md) and saved as a plain
safetensors state dict, the format real ESRGAN files come in; spandrel detects it on load.

Random weights alone paint dark noise unrelated to the input, which would make "the upscaled
image keeps its seams (or lack of them)" untestable. So the outer convolutions carry the RGB
channels through (a delta kernel, a binomial blur after each nearest-neighbour ×2 upsample:
together a smooth upscale), the seeded random weights stay as a faint perturbation, and the
RRDB trunk adds a small random residual: a deterministic network that behaves like a (poor)
super-resolution model and exercises every layer.
"""

from __future__ import annotations

from pathlib import Path

NOISE = 0.05  # scale of the seeded random weights kept on top of the pass-through


def build_tiny_esrgan(path: Path, scale: int = 4, seed: int = 0) -> Path:
    """Write a tiny ESRGAN (×``scale``: 2 or 4) to ``path``.

    The file is .safetensors, or a pickled ``torch.save`` state dict for any other suffix
    (tests use that to check pickles are refused). Same arguments, same bytes.
    """
    import torch
    from safetensors.torch import save_file
    from spandrel.architectures.ESRGAN import ESRGAN
    from torch import nn

    with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
        torch.manual_seed(seed)
        net = ESRGAN(in_nc=3, out_nc=3, num_filters=16, num_blocks=2, scale=scale)
    delta = torch.zeros(3, 3)
    delta[1, 1] = 1.0
    b = torch.tensor([1.0, 2.0, 1.0])
    blur = torch.outer(b, b) / 16.0
    layers = list(net.model)
    with torch.no_grad():
        trunk_out = layers[1].sub[-1]  # the trunk's last conv: its output is added to the input
        trunk_out.weight.mul_(NOISE)
        trunk_out.bias.mul_(NOISE)
        for i, layer in enumerate(layers):
            if i == 1 or not isinstance(layer, nn.Conv2d):
                continue
            kernel = blur if isinstance(layers[i - 1], nn.Upsample) else delta
            layer.weight.mul_(NOISE)
            layer.bias.mul_(NOISE)
            for c in range(3):
                layer.weight[c, c] += kernel
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path
