"""AssetForge LoRA style packs: prompt text + LoRA files applied per asset through diffusers."""

__version__ = "0.1.0"
