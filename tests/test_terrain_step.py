"""The terrain step's planning side, called directly: which inputs, which terrains tile, the
filter, and the recipe parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from assetforge_terrain.step import TERRAIN_STEP, terrain_params

from assetforge.api import AssetSpec, SourceFile, UserError


class FakeGraph:
    """The ``Graph`` a step sees: ids, kinds, views, outputs and manifest fields."""

    def __init__(self, assets: dict[str, tuple[str, dict[str, Any]]]):
        self.assets = assets

    def ids(self) -> list[str]:
        return list(self.assets)

    def kind(self, asset_id: str) -> str:
        return self.assets[asset_id][0]

    def views(self, asset_id: str) -> list[str]:
        return list(self.assets[asset_id][1].get("views", []))

    def output(self, asset_id: str, view: str | None = None) -> str:
        return f"textures/{asset_id}.png"

    def field(self, asset_id: str, key: str) -> Any:
        return self.assets[asset_id][1].get(key)


def spec(tmp_path: Path, **fields: Any) -> AssetSpec:
    path = tmp_path / "t.toml"
    path.write_text('[terrain.set]\nterrains = ["@a", "@b"]\n')
    return AssetSpec("set", "terrain", {"terrains": ["@a", "@b"], **fields},
                     SourceFile(path, path.read_text()))


def test_generated_textures_tile_by_default_and_name_lower_then_upper(tmp_path):
    graph = FakeGraph({"a": ("texture", {}), "b": ("texture", {"tiling": "both"})})
    s = spec(tmp_path)
    assert TERRAIN_STEP.inputs(s, graph, None) == [("lower", "@a"), ("upper", "@b")]
    assert s.fields["filter"] == "smooth"


@pytest.mark.parametrize("fields,kind,expect", [
    ({"tiling": "x"}, "texture", "tiling = 'x'"),
    ({"tiling": "none"}, "texture", "generate it with tiling"),
    ({"image": "art/a.png"}, "texture", "declare tiling"),  # a file does not tile unless said
    ({}, "tile", "tiling = 'none'"),  # tiles do not tile by default
])
def test_a_terrain_that_does_not_tile_is_a_located_error(tmp_path, fields, kind, expect):
    graph = FakeGraph({"a": (kind, fields), "b": ("texture", {})})
    with pytest.raises(UserError) as e:
        TERRAIN_STEP.inputs(spec(tmp_path), graph, None)
    text = str(e.value)
    assert "t.toml:2: terrain.set.terrains: @a does not tile on both axes" in text, text
    assert expect in text


def test_pixel_art_terrains_resize_with_the_nearest_filter(tmp_path):
    graph = FakeGraph({"a": ("texture", {"pixel_art": {"size": 16}}), "b": ("texture", {})})
    s = spec(tmp_path)
    TERRAIN_STEP.inputs(s, graph, None)
    assert s.fields["filter"] == "nearest"
    explicit = spec(tmp_path, filter="smooth")
    TERRAIN_STEP.inputs(explicit, graph, None)
    assert explicit.fields["filter"] == "smooth"


def test_params_hold_every_option_and_defaults_per_layout(tmp_path):
    blob = terrain_params(spec(tmp_path, layout="blob", filter="smooth"))
    corner = terrain_params(spec(tmp_path, layout="corner", filter="smooth", tile_size=16))
    assert (blob["columns"], blob["tile_size"]) == (8, 32)
    assert (corner["columns"], corner["tile_size"]) == (4, 16)
    assert blob["terrains"] == ["a", "b"] and blob["output"] == "terrains/set"
    assert "transition" not in blob
    with_t = terrain_params(spec(tmp_path, layout="blob", filter="smooth",
                                 transition={"prompt": "foam"}))
    assert with_t["transition"]["prompt"] == "foam" and with_t["transition"]["strength"] == 0.5
    assert blob["noise_seed"] == terrain_params(spec(tmp_path, filter="smooth"))["noise_seed"]
