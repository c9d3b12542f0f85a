"""The safety check: an image classifier (a transformers folder saved with save_pretrained),
or the model's own diffusers safety checker (``classifier = "model"``). Imports torch and
transformers only when a project configures it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assetforge.api import UserError

if TYPE_CHECKING:
    from PIL import Image

    from assetforge.api import Project

_LOADED: dict[tuple[str, float], Any] = {}  # (folder, mtime) -> (processor, model)


def _classifier(folder: Path) -> Any:
    key = (str(folder), folder.stat().st_mtime)
    if key not in _LOADED:
        from transformers import AutoImageProcessor, AutoModelForImageClassification

        processor = AutoImageProcessor.from_pretrained(folder, local_files_only=True)
        model = AutoModelForImageClassification.from_pretrained(
            folder, local_files_only=True, use_safetensors=True).eval()
        _LOADED[key] = (processor, model)
    return _LOADED[key]


def classify(image: Image.Image, folder: Path, labels: list[str]) -> tuple[float, str]:
    """The highest probability among ``labels``, and which label it was."""
    import torch

    processor, model = _classifier(folder)
    with torch.no_grad():
        logits = model(**processor(images=image.convert("RGB"), return_tensors="pt")).logits
    probs = torch.softmax(logits.float(), dim=-1)[0]
    names = {i: str(n) for i, n in model.config.id2label.items()}
    scored = [(float(probs[i]), n) for i, n in names.items() if n in labels]
    if not scored:
        raise UserError(f"[plugins.qa.safety] labels {labels} name none of the classifier's "
                        f"labels ({', '.join(names.values())})")
    return max(scored)


def model_checker(image: Image.Image, folder: Path) -> tuple[float, str]:
    """A diffusers model folder's own ``safety_checker`` (1.0 when it flags the image)."""
    import numpy as np
    import torch
    from diffusers.pipelines.stable_diffusion.safety_checker import (
        StableDiffusionSafetyChecker,
    )
    from transformers import CLIPImageProcessor

    key = (str(folder / "safety_checker"), 0.0)
    if key not in _LOADED:
        _LOADED[key] = (CLIPImageProcessor.from_pretrained(folder / "feature_extractor"),
                        StableDiffusionSafetyChecker.from_pretrained(
                            folder / "safety_checker", use_safetensors=True).eval())
    processor, checker = _LOADED[key]
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32)[None] / 255.0
    with torch.no_grad():
        clip = processor(images=image.convert("RGB"), return_tensors="pt").pixel_values
        _imgs, flagged = checker(images=pixels, clip_input=clip)
    return (1.0 if flagged[0] else 0.0), "safety_checker"


def score(image: Image.Image, project: Project, model_name: str, classifier: str,
          labels: list[str]) -> tuple[float, str]:
    if classifier == "model":
        cfg = project.models.get(model_name)
        folder = project.resolve_path(cfg.source) if cfg is not None else None
        if folder is None or not (folder / "safety_checker").is_dir():
            raise UserError(f"[plugins.qa.safety] classifier = \"model\": model {model_name!r} "
                            "ships no safety_checker folder; name a classifier folder instead")
        return model_checker(image, folder)
    folder = project.resolve_path(classifier)
    if not (folder / "config.json").is_file():
        raise UserError(f"{project.config_path}: plugins.qa.safety.classifier: {folder} is "
                        "not a transformers model folder (no config.json)")
    return classify(image, folder, labels)
