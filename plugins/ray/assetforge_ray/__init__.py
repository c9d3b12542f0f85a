"""AssetForge's Ray executor: ``assetforge build --executor ray``."""
