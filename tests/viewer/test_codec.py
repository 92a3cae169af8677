"""Slice bytes: window/level to 8 bits, the PNG writer, quantised raw values."""

from __future__ import annotations

import numpy as np
import pytest

from frontend.slice_codec import encode_png_gray, quantise, to_raw_bytes, window_to_uint8
from tests.viewer.pngdecode import decode_gray_png


def test_window_maps_lo_to_0_hi_to_255_linearly_and_clips():
    values = np.array([[-50.0, 0.0, 50.0, 100.0, 150.0, np.nan]], np.float32)
    out = window_to_uint8(values, 0.0, 100.0)
    # 255 · 0.5 = 127.5 rounds half up to 128.
    np.testing.assert_array_equal(out, [[0, 0, 128, 255, 255, 0]])


def test_window_rejects_an_empty_window():
    with pytest.raises(ValueError, match="window"):
        window_to_uint8(np.zeros((2, 2)), 5.0, 5.0)


def test_png_round_trip_keeps_every_pixel():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, size=(37, 53), dtype=np.uint8)
    for level in (0, 1, 9):
        np.testing.assert_array_equal(decode_gray_png(encode_png_gray(image, level)), image)


def test_png_rejects_non_uint8():
    with pytest.raises(ValueError, match="image"):
        encode_png_gray(np.zeros((4, 4), np.float32))


@pytest.mark.parametrize("bits", [8, 16])
def test_quantised_values_are_within_half_a_step(bits):
    values = np.linspace(-3.0, 17.0, 1000, dtype=np.float32).reshape(20, 50)
    q, scale, offset = quantise(values, bits)
    assert scale == pytest.approx(20.0 / ((1 << bits) - 1))
    assert offset == pytest.approx(-3.0)
    assert q.min() == 0 and q.max() == (1 << bits) - 1
    np.testing.assert_allclose(q * scale + offset, values, atol=scale / 2 * 1.001)


def test_constant_slice_quantises_to_zero_with_unit_scale():
    q, scale, offset = quantise(np.full((3, 3), 7.5, np.float32), 16)
    assert (scale, offset) == (1.0, 7.5)
    assert not q.any()


def test_raw_bytes_are_little_endian():
    values = np.array([[1.5, -2.0]], np.float32)
    body, dtype, scale, offset = to_raw_bytes(values, "f32")
    assert (dtype, scale, offset) == ("float32", 1.0, 0.0)
    np.testing.assert_array_equal(np.frombuffer(body, "<f4"), [1.5, -2.0])
    body, dtype, scale, offset = to_raw_bytes(values, "u16")
    assert dtype == "uint16" and len(body) == 4
    np.testing.assert_array_equal(np.frombuffer(body, "<u2"), [65535, 0])
    with pytest.raises(ValueError, match="format"):
        to_raw_bytes(values, "f64")
