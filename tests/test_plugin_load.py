"""Plugins that fail while loading: an error naming the plugin, its file, the line and the
exception (exit 2, no traceback); `assetforge plugins` still lists the others. Commands of
project-local plugins work."""

from __future__ import annotations

import textwrap
from pathlib import Path

from helpers import run_cli

GOOD = '''\
from assetforge.api import hookimpl, ManifestKey

@hookimpl
def register_manifest_keys():
    return [ManifestKey("mood", (str,), "free text")]
'''


def _project(make_project, plugins: dict[str, str]) -> Path:
    files = {f"plugins/{name}.py": text for name, text in plugins.items()}
    files["manifests/a.toml"] = '[texture.a]\nprompt = "a"\nmood = "calm"\n'
    return make_project(files, config=_config())


def _config() -> str:
    from conftest import BASE_CONFIG

    return BASE_CONFIG.replace('seed_salt = "test"', 'seed_salt = "test"\nplugins_dir = "plugins"')


def _errors(res) -> list[str]:
    assert "Traceback" not in res.output
    return [ln for ln in res.stderr.splitlines() if ln.startswith("error: ")]


def test_plugin_that_raises_on_import_is_named_with_file_and_line(make_project):
    root = _project(make_project, {"good": GOOD, "broken": "import os\n\nx = 1 / 0\n"})
    broken = root / "plugins" / "broken.py"
    res = run_cli(root, "status")
    assert res.exit_code == 2
    assert _errors(res) == [f"error: {broken}:3: plugin 'broken': failed to load: "
                            "ZeroDivisionError: division by zero"]
    res = run_cli(root, "plugins")
    assert res.exit_code == 2
    assert "good 0  [" in res.stdout and "core " in res.stdout  # the others are listed
    assert f"error: {broken}:3: plugin 'broken'" in res.stderr


def test_plugin_with_a_syntax_error(make_project):
    root = _project(make_project, {"good": GOOD, "typo": "def f(:\n    pass\n"})
    res = run_cli(root, "build", "--json")
    assert res.exit_code == 2
    assert _errors(res)[0].startswith(f"error: {root / 'plugins' / 'typo.py'}:1: plugin 'typo': "
                                      "failed to load: SyntaxError:")


def test_plugin_whose_registration_hook_raises(make_project):
    src = textwrap.dedent('''\
        from assetforge.api import hookimpl

        @hookimpl
        def register_manifest_keys():
            raise RuntimeError("no keys today")
        ''')
    root = _project(make_project, {"good": GOOD, "moody": src})
    res = run_cli(root, "status")
    assert res.exit_code == 2
    assert _errors(res) == [f"error: {root / 'plugins' / 'moody.py'}:5: plugin 'moody': "
                            "register_manifest_keys raised RuntimeError: no keys today"]


def test_plugin_that_fails_to_register(make_project):
    src = "from assetforge.api import hookimpl\n\n@hookimpl\ndef register_generators(bogus):\n" \
          "    return []\n"
    root = _project(make_project, {"good": GOOD, "wrongargs": src})
    res = run_cli(root, "status")
    assert res.exit_code == 2
    (error,) = _errors(res)
    assert error.startswith(f"error: {root / 'plugins' / 'wrongargs.py'}") and \
        "plugin 'wrongargs': failed to register: PluginValidationError" in error


def test_entry_point_that_fails_to_import(make_project, tmp_path, monkeypatch):
    site = tmp_path / "site"
    (site / "brokenplug").mkdir(parents=True)
    (site / "brokenplug" / "__init__.py").write_text("import missing_dependency_xyz\n")
    info = site / "brokenplug-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: brokenplug\nVersion: 1.0\n\n")
    (info / "entry_points.txt").write_text("[assetforge]\nbrokenplug = brokenplug\n")
    monkeypatch.syspath_prepend(str(site))
    root = _project(make_project, {"good": GOOD})
    res = run_cli(root, "status")
    assert res.exit_code == 2
    assert _errors(res) == [f"error: {site / 'brokenplug' / '__init__.py'}:1: plugin "
                            "'brokenplug': failed to load: ModuleNotFoundError: No module "
                            "named 'missing_dependency_xyz'"]
    res = run_cli(root, "plugins", "--json")
    assert res.exit_code == 2
    import json

    listed = json.loads(res.stdout)
    assert {"core", "good"} <= {p["name"] for p in listed if "error" not in p}
    assert [p["name"] for p in listed if "error" in p] == ["brokenplug"]


def test_register_commands_works_for_project_plugins(make_project):
    src = textwrap.dedent('''\
        import click
        from assetforge.api import hookimpl

        @hookimpl
        def register_commands(cli):
            @cli.command()
            @click.argument("name")
            def greet(name):
                """Greet someone."""
                click.echo(f"hello {name} from a project plugin")
        ''')
    root = _project(make_project, {"good": GOOD, "greeter": src})
    res = run_cli(root, "greet", "world")
    assert res.exit_code == 0, res.output
    assert res.stdout == "hello world from a project plugin\n"
    res = run_cli(root, "no-such-command")
    assert res.exit_code == 2 and "No such command" in res.output
