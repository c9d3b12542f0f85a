"""Plugins use one public surface, ``assetforge.api``; a plugin that reaches past it fails here."""

from __future__ import annotations

import re
from pathlib import Path

import assetforge.api as api

ROOT = Path(__file__).resolve().parents[1]
# Any import of an assetforge module other than ``assetforge.api`` (and the package itself
# only for ``__version__``): ``from assetforge.plan import …``, ``import assetforge.db``.
PAST_API = re.compile(r"^\s*(?:from\s+assetforge\.(?!api\b)\w+|import\s+assetforge\.(?!api\b)\w+"
                      r"|from\s+assetforge\s+import\s+(?!__version__\b)\w+)", re.M)


def _plugin_sources() -> list[Path]:
    files = sorted((ROOT / "plugins").rglob("*.py")) + sorted((ROOT / "projects").rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def test_plugins_import_only_the_public_api() -> None:
    offenders = []
    for f in _plugin_sources():
        text = f.read_text("utf-8")
        for m in PAST_API.finditer(text):
            line = text[:m.start()].count("\n") + 1
            offenders.append(f"{f.relative_to(ROOT)}:{line}: {m.group(0).strip()}")
    assert offenders == []


def test_plugin_guide_examples_import_only_the_public_api() -> None:
    guide = (ROOT / "docs" / "plugins.md").read_text("utf-8")
    assert "from assetforge.api import" in guide
    assert PAST_API.findall(guide) == []


def test_the_check_catches_a_reach_past_the_api() -> None:
    assert PAST_API.search("from assetforge.plan import Plan\n")
    assert PAST_API.search("    import assetforge.db\n")
    assert PAST_API.search("from assetforge import hookimpl\n")
    assert not PAST_API.search("from assetforge.api import hookimpl\n")


def test_every_public_name_exists() -> None:
    missing = [n for n in api.__all__ if not hasattr(api, n)]
    assert missing == []
    assert len(set(api.__all__)) == len(api.__all__)
