"""A tiny U²-Net-shaped ONNX model for tests and demos: needs ``onnx`` (the ``testing`` extra).

The model is one 1×1 convolution and a sigmoid: input ``1×3×320×320`` (rembg's normalised RGB),
output ``1×1×320×320``. Its mask is ``sigmoid(w·rgb + b)`` per pixel, so which colours become
foreground is chosen by the weights: the default ``(4, 0, -4)`` keeps reddish pixels and drops
bluish ones. rembg stretches the prediction to 0-255 (min to max) before using it as alpha.
"""

from __future__ import annotations

from pathlib import Path

SIZE = 320


def build_tiny_u2net(path: Path, weights: tuple[float, float, float] = (4.0, 0.0, -4.0),
                     bias: float = 0.0) -> Path:
    """Write the model to ``path`` (deterministic bytes for given weights); return ``path``."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.array(weights, dtype=np.float32).reshape(1, 3, 1, 1),
                                     name="weight")
    offset = numpy_helper.from_array(np.array([bias], dtype=np.float32), name="bias")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "weight", "bias"], ["logits"]),
         helper.make_node("Sigmoid", ["logits"], ["mask"])],
        "tiny_u2net",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("mask", TensorProto.FLOAT, [1, 1, SIZE, SIZE])],
        initializer=[weight, offset])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)],
                              producer_name="assetforge-cutout")
    model.ir_version = 8  # readable by every onnxruntime since 1.10
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(model.SerializeToString())
    return path
