"""Heavy libraries load only where generation happens: --help and no-op builds stay light."""

from __future__ import annotations

import json
import subprocess
import sys

from helpers import build_json

HEAVY = ("torch", "diffusers", "transformers", "peft", "spandrel", "ray", "s3fs", "fsspec")

PROBE = """
import sys, runpy
sys.argv = ["assetforge", *{args!r}]
try:
    runpy.run_module("assetforge", run_name="__main__")
except SystemExit as e:
    code = e.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def imported_heavy(args: list[str], cwd) -> tuple[list[str], str]:
    code = PROBE.format(args=args, heavy=HEAVY)
    res = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                         timeout=120)
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("HEAVY=")][-1]
    found = [m for m in line.removeprefix("HEAVY=").split(",") if m]
    return found, res.stdout


def test_help_does_not_import_torch(tmp_path):
    heavy, out = imported_heavy(["--help"], tmp_path)
    assert "Usage" in out
    assert heavy == []


def test_noop_build_and_status_do_not_import_torch(make_project):
    root = make_project({"manifests/a.toml": '[texture.a]\nprompt = "a"\n'})
    build_json(root)
    heavy, out = imported_heavy(["build", "--json"], root)
    assert json.loads(out)["summary"]["up_to_date"] == 1
    assert heavy == []
    heavy, out = imported_heavy(["status"], root)
    assert "up-to-date" in out
    assert heavy == []


def _core_imports() -> dict[str, set[str]]:
    """module → core modules it imports (at the top or inside functions; not the imports
    under ``if TYPE_CHECKING:``, which exist only for annotations)."""
    import ast
    from pathlib import Path

    import assetforge

    pkg = Path(assetforge.__file__).parent
    graph: dict[str, set[str]] = {}
    for path in pkg.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = list(path.relative_to(pkg.parent).with_suffix("").parts)
        package = parts if parts[-1] == "__init__" else parts[:-1]
        package = [p for p in package if p != "__init__"]
        name = ".".join(p for p in parts if p != "__init__")
        tree = ast.parse(path.read_text())
        skip = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and id(node) not in skip:
                base = package[:len(package) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                deps |= {target} if node.module else {f"{target}.{a.name}" for a in node.names}
        graph[name] = deps
    known = set(graph)

    def module(dotted: str) -> str:
        while dotted and dotted not in known:
            dotted = dotted.rpartition(".")[0]
        return dotted

    return {m: {module(d) for d in ds} - {m, ""} for m, ds in graph.items()}


def test_core_modules_import_without_cycles():
    graph = _core_imports()
    assert "assetforge.errors" in graph and graph["assetforge.adopt"]  # the scan sees modules

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in graph.get(start, ()):
            if nxt == goal or (nxt not in seen and (seen.add(nxt) or reaches(nxt, goal, seen))):
                return True
        return False

    cycles = sorted(m for m in graph if reaches(m, m, set()))
    assert cycles == [], f"modules on an import cycle: {cycles}"
