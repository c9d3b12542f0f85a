"""AssetForge's built-in generator: Stable Diffusion 1.x/2.x, SDXL and SD3 through diffusers.

Importing this package (or ``.plugin``) never imports torch, diffusers or transformers: planning
and ``assetforge --help`` must stay cheap. Only ``pipeline`` and ``ldm`` import them, lazily.
"""
