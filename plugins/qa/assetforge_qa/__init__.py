"""AssetForge plugin: quality checks on every generated image (``[plugins.qa]``)."""

from assetforge.api import dist_version

__version__ = dist_version("assetforge-qa") or "0+unknown"
