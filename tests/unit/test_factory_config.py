"""The factory layout: the shipped reference factory, and clear errors for bad files."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import pytest

from widget_factory.errors import ConfigError
from widget_factory.factory_config import default_config, load_config, parse_config
from widget_factory.schemas import WIDGET_RECIPES


def _reference() -> dict:
    return tomllib.loads(resources.files("widget_factory").joinpath("factory.toml").read_text())


def test_reference_factory_matches_the_walkthrough() -> None:
    config = default_config()
    assert len(config.machines) == 10
    assert len(config.component_types) == 7
    assert len(config.widget_types) == 4
    assert len(config.stations) == 3
    assert len(config.all_machine_ids) == 13
    assert len(config.quality.inspectors) == 3
    for widget_type, recipe in WIDGET_RECIPES.items():
        assert config.recipes[widget_type] == tuple(recipe)
    assert config.machine_by_id["SENSOR_CALIB_01"].cycle_time_s == (300, 420)
    assert config.widget_types["industrial_widget"].min_performance == 90


def test_wrong_shape_names_the_field() -> None:
    data = _reference()
    data["machines"][2]["cycle_time_s"] = [1, 2, 3]
    with pytest.raises(ConfigError, match=r"machines\[2\]\.cycle_time_s"):
        parse_config(data)


def test_unknown_component_in_recipe_names_the_widget() -> None:
    data = _reference()
    data["widget_types"]["basic_widget"]["recipe"].append("unobtainium")
    with pytest.raises(ConfigError, match=r"widget_types\.basic_widget\.recipe.*unobtainium"):
        parse_config(data)


def test_unknown_field_is_refused() -> None:
    data = _reference()
    data["machines"][0]["speeed"] = 3
    with pytest.raises(ConfigError, match=r"machines\[0\].*speeed"):
        parse_config(data)


def test_inverted_range_is_refused() -> None:
    data = _reference()
    data["machines"][0]["cycle_time_s"] = [75, 45]
    with pytest.raises(ConfigError, match=r"machines\[0\]\.cycle_time_s"):
        parse_config(data)


def test_adding_a_widget_type_is_a_config_change(tmp_path: Path) -> None:
    text = resources.files("widget_factory").joinpath("factory.toml").read_text()
    text += '\n[widget_types.mini_widget]\nrecipe = ["metal_frame", "battery"]\n'
    text += "assembly_time_s = 120\nmin_performance = 70\npass_rate = 0.97\n"
    text = text.replace(
        'builds = ["basic_widget", "premium_widget"]',
        'builds = ["basic_widget", "premium_widget", "mini_widget"]',
    )
    path = tmp_path / "factory.toml"
    path.write_text(text)
    config = load_config(path)
    assert config.recipes["mini_widget"] == ("metal_frame", "battery")
    assert "mini_widget" in config.station_by_id["ASSEMBLY_STATION_A"].builds


def test_missing_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("machines = [")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
