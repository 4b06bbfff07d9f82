"""The trend chart renders a real, deterministic PNG without a display."""

from __future__ import annotations

import struct
from datetime import date, timedelta

from digests.chart import MAX_SERIES, trend_chart_png

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
START = date(2026, 10, 27)


def _series() -> dict[str, list[tuple[date, float]]]:
    return {
        "Evergreen Associates": [
            (START + timedelta(days=7 * k), s) for k, s in enumerate([61.0, 60.0, 58.7, 49.2, 47.0])
        ],
        "Cash $ & <Co>": [(START + timedelta(days=k), 70 + k % 5) for k in range(30)],
    }


def _size(png: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", png[16:24])  # IHDR follows the signature
    return width, height


def test_chart_is_a_png_of_the_requested_size() -> None:
    png = trend_chart_png(_series(), "Health over 30 days")
    assert png.startswith(PNG_SIGNATURE)
    assert png[12:16] == b"IHDR"
    assert _size(png) == (600, 300)
    assert len(png) > 5_000  # lines, bands and labels, not a blank canvas


def test_chart_is_deterministic() -> None:
    assert trend_chart_png(_series(), "t") == trend_chart_png(_series(), "t")


def test_chart_differs_with_data() -> None:
    flat = {"A": [(START + timedelta(days=k), 50.0) for k in range(10)]}
    assert trend_chart_png(flat, "t") != trend_chart_png(_series(), "t")


def test_empty_and_degenerate_inputs_still_render() -> None:
    inputs: tuple[dict[str, list[tuple[date, float]]], ...] = (
        {},
        {"Nothing": []},
        {"One point": [(START, 42.0)]},
    )
    for series in inputs:
        png = trend_chart_png(series, "No $data$ yet")
        assert png.startswith(PNG_SIGNATURE) and len(png) > 1_000


def test_too_many_series_are_capped() -> None:
    many = {
        f"Account {i}": [(START, 10.0 * (i % 10)), (START + timedelta(days=7), 50.0)]
        for i in range(MAX_SERIES + 5)
    }
    png = trend_chart_png(many, "Portfolio", width=4, height=2, dpi=80)
    assert _size(png) == (320, 160)
