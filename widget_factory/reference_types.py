"""The reference factory's component and widget types, and its recipes.

Events carry component and widget types as plain strings, because a factory's
configuration may add new ones; these tables name the reference factory's
(docs/contract.md), and the shipped ``factory.toml`` carries the same recipes. The
names are importable from :mod:`widget_factory.schemas` too.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

__all__ = ["ComponentType", "WidgetType", "WIDGET_RECIPES"]


class ComponentType(StrEnum):
    """Component types of the reference factory."""

    METAL_FRAME = "metal_frame"
    PLASTIC_HOUSING = "plastic_housing"
    CIRCUIT_BOARD = "circuit_board"
    BATTERY = "battery"
    DISPLAY_SCREEN = "display_screen"
    SENSOR = "sensor"
    MOTOR = "motor"


class WidgetType(StrEnum):
    """Widget types of the reference factory."""

    BASIC_WIDGET = "basic_widget"
    PREMIUM_WIDGET = "premium_widget"
    INDUSTRIAL_WIDGET = "industrial_widget"
    SMART_WIDGET = "smart_widget"


_BASIC = (ComponentType.METAL_FRAME, ComponentType.PLASTIC_HOUSING, ComponentType.CIRCUIT_BOARD)

WIDGET_RECIPES: Final[dict[WidgetType, tuple[ComponentType, ...]]] = {
    WidgetType.BASIC_WIDGET: _BASIC,
    WidgetType.PREMIUM_WIDGET: (*_BASIC, ComponentType.BATTERY, ComponentType.DISPLAY_SCREEN),
    WidgetType.INDUSTRIAL_WIDGET: (
        *_BASIC,
        ComponentType.BATTERY,
        ComponentType.SENSOR,
        ComponentType.MOTOR,
    ),
    WidgetType.SMART_WIDGET: (
        *_BASIC,
        ComponentType.BATTERY,
        ComponentType.DISPLAY_SCREEN,
        ComponentType.SENSOR,
    ),
}
"""The reference factory's recipes: one of each component listed. The shipped
``factory.toml`` carries the same recipes; configuration may add more."""
