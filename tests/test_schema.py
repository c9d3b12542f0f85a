"""``assetforge schema``: generated from the registered keys (a plugin's new key appears), and
each key's schema keywords agree with its check (tests/test_schema_taplo.py runs taplo)."""

from __future__ import annotations

import json

from helpers import run_cli

from assetforge.manifest import check_value
from assetforge.plugins import load_plugins
from assetforge.project import load_project

MOOD_PLUGIN = '''\
from assetforge.api import ManifestKey, hookimpl


@hookimpl
def register_manifest_keys():
    return [ManifestKey("mood", (str,), "the asset's mood, for the prompt", kinds=("tile",),
                        schema={"enum": ["calm", "grim"]})]
'''


def test_schema_lists_every_kind_and_key_with_docs_and_defaults(make_project):
    root = make_project({"manifests/a.toml": '[texture.a]\nprompt = "x"\n'})
    res = run_cli(root, "schema")
    assert res.exit_code == 0, res.output
    schema = json.loads(res.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    plugins = load_plugins(load_project(root))
    kinds = plugins.asset_kinds()
    assert set(schema["properties"]) == set(kinds)
    assert schema["additionalProperties"] is False
    for name in kinds:
        table = schema["properties"][name]
        assert table["additionalProperties"] == {"$ref": f"#/$defs/{name}"}
        props = schema["$defs"][name]["properties"]
        for key in plugins.manifest_keys().values():
            if key.kinds and name not in key.kinds:
                assert key.name not in props
                continue
            assert props[key.name]["description"] == key.help
    tex = schema["$defs"]["texture"]["properties"]
    assert tex["steps"] == {"description": "denoising steps", "type": "integer",
                            "minimum": 1, "maximum": 1000, "default": 2}  # [kinds.texture]
    assert tex["width"]["multipleOf"] == 8 and tex["guidance"]["type"] == "number"
    assert tex["model"]["enum"] == ["tiny"]  # the project's model tables
    assert "euler_a" in tex["scheduler"]["enum"] and "dpmpp_2m" in tex["scheduler"]["enum"]
    assert tex["tiling"]["enum"] == ["none", "x", "y", "both"]  # the seamless plugin's
    assert tex["prompt"]["maxLength"] == 100_000  # the README's limit
    assert "views" not in tex and "views" in schema["$defs"]["character"]["properties"]
    assert "frames" in schema["$defs"]["atlas"]["properties"]


def test_project_plugin_keys_appear_and_config_schema(make_project, tmp_path):
    root = make_project({"manifests/a.toml": '[tile.a]\nprompt = "x"\n',
                         "plugins/mood.py": MOOD_PLUGIN})
    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace('seed_salt = "test"',
                                           'seed_salt = "test"\nplugins_dir = "plugins"'))
    out = tmp_path / "s" / "manifest.json"
    res = run_cli(root, "schema", "--out", str(out))
    assert res.exit_code == 0, res.output
    mood = json.loads(out.read_text())["$defs"]["tile"]["properties"]["mood"]
    assert mood == {"description": "the asset's mood, for the prompt", "type": "string",
                    "enum": ["calm", "grim"], "maxLength": 100_000}
    conf = json.loads(run_cli(root, "schema", "--config").stdout)
    assert conf["properties"]["kinds"]["properties"]["tile"] == {"$ref": "#/$defs/tile"}
    assert "mood" in conf["$defs"]["tile"]["properties"]
    project = conf["properties"]["project"]["properties"]
    assert project["output_dir"]["default"] == "assets"
    assert project["allow_pickle"]["type"] == "boolean"
    assert conf["properties"]["models"]["additionalProperties"]["required"] == ["source"]


def test_init_writes_taplo_config_and_build_refreshes_the_schemas(tmp_path):
    from click.testing import CliRunner

    from assetforge.cli import cli

    root = tmp_path / "game"
    res = CliRunner().invoke(cli, ["init", str(root)])
    assert res.exit_code == 0, res.output
    taplo = (root / ".taplo.toml").read_text()
    assert '"manifests/**/*.toml"' in taplo and "assetforge.toml" in taplo
    assert './.assetforge/schemas/manifest.schema.json' in taplo
    schema_file = root / ".assetforge" / "schemas" / "manifest.schema.json"
    assert "mood" not in schema_file.read_text()
    # a project plugin adds a key: the next build rewrites the schema
    (root / "plugins").mkdir()
    (root / "plugins" / "mood.py").write_text(MOOD_PLUGIN)
    cfg = root / "assetforge.toml"
    cfg.write_text(cfg.read_text().replace('default_model = "tiny"',
                                           'default_model = "tiny"\nplugins_dir = "plugins"'))
    (root / "manifests" / "example.toml").write_text("")
    res = run_cli(root, "build")
    assert res.exit_code == 0, res.output
    schema = json.loads(schema_file.read_text())
    assert schema["$defs"]["tile"]["properties"]["mood"]["enum"] == ["calm", "grim"]
    config_schema = json.loads((root / ".assetforge/schemas/assetforge.schema.json").read_text())
    assert "mood" in config_schema["$defs"]["tile"]["properties"]
    # the user's own .taplo.toml is never overwritten
    (root / ".taplo.toml").write_text("# mine\n")
    run_cli(root, "schema", "--editor")
    assert (root / ".taplo.toml").read_text() == "# mine\n"


def test_every_keys_schema_agrees_with_its_check(make_project):
    """For each registered key: the bounds and enum values the schema allows pass the key's
    own check, and one step past a bound fails it (so the editor flags what the build does)."""
    root = make_project({"manifests/a.toml": '[texture.a]\nprompt = "x"\n'})
    keys = load_plugins(load_project(root)).manifest_keys()
    checked = 0
    for key in keys.values():
        frag = key.schema or {}
        if "minimum" in frag:
            lo = frag["minimum"]
            assert check_value(key, lo) is None, key.name
            assert check_value(key, lo - 1) is not None, key.name
            checked += 1
        if "maximum" in frag:
            hi = frag["maximum"]
            assert check_value(key, hi) is None, key.name
            assert check_value(key, hi + 1) is not None, key.name
        for value in frag.get("enum", []):
            assert check_value(key, value) is None, (key.name, value)
        if "multipleOf" in frag:
            assert check_value(key, frag["minimum"] + frag["multipleOf"]) is None
            assert check_value(key, frag["minimum"] + 1) is not None
    assert checked >= 10  # builtin sizes, steps, seed, guidance, candidates, exports' ranges
