"""Slices as bytes for the viewer: window/level to 8 bits, PNG, quantised raw values.

Django-free.  An 8-bit slice maps the window ``[lo, hi]`` (stored units) linearly onto
0…255 and is sent as a greyscale PNG, written here directly with :mod:`zlib` (a PNG of
one 8-bit channel is a header, the rows each prefixed by filter byte 0, deflated, and
an end chunk — W3C PNG specification, 2nd ed., §11).  Raw slices are little-endian
``float32`` (exact) or ``uint16``/``uint8`` with ``value = q · scale + offset``.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

__all__ = ["RAW_FORMATS", "encode_png_gray", "quantise", "to_raw_bytes", "window_to_uint8"]

RAW_FORMATS = ("f32", "u16", "u8")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def window_to_uint8(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map the window ``[lo, hi]`` linearly onto 0…255 (clipped; NaN → 0).

    Parameters
    ----------
    values : ndarray, 2-D, float
        Grey values in stored units.
    lo, hi : float
        Window bounds in the same units; ``hi > lo``.

    Returns
    -------
    ndarray of uint8, same shape
        ``round(255 · (v − lo) / (hi − lo))`` clipped to 0…255.
    """
    if not (np.isfinite(lo) and np.isfinite(hi) and hi > lo):
        raise ValueError(f"window: expected finite lo < hi, got lo={lo!r}, hi={hi!r}")
    scaled = np.asarray(values, dtype=np.float32) - np.float32(lo)
    scaled *= np.float32(255.0 / (hi - lo))
    scaled += np.float32(0.5)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    np.nan_to_num(scaled, copy=False, nan=0.0)
    return scaled.astype(np.uint8)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(data, zlib.crc32(kind)) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def encode_png_gray(image: np.ndarray, compress_level: int = 1) -> bytes:
    """A greyscale 8-bit PNG of ``image`` (rows top to bottom).

    Parameters
    ----------
    image : ndarray of uint8, shape (rows, cols)
    compress_level : int
        zlib level 0–9; level 1 is ≈5× faster than 6 for a few percent more bytes.

    Returns
    -------
    bytes
        A complete PNG file.
    """
    image = np.asarray(image)
    if image.dtype != np.uint8 or image.ndim != 2 or 0 in image.shape:
        raise ValueError(
            f"image: expected a non-empty 2-D uint8 array, got {image.dtype} {image.shape}"
        )
    if not 0 <= compress_level <= 9:
        raise ValueError(f"compress_level: expected 0–9, got {compress_level}")
    rows, cols = image.shape
    filtered = np.zeros((rows, cols + 1), dtype=np.uint8)  # filter type 0 (None) per row
    filtered[:, 1:] = image
    header = struct.pack(">IIBBBBB", cols, rows, 8, 0, 0, 0, 0)  # 8 bit, greyscale
    return b"".join(
        (
            _PNG_SIGNATURE,
            _chunk(b"IHDR", header),
            _chunk(b"IDAT", zlib.compress(filtered.tobytes(), compress_level)),
            _chunk(b"IEND", b""),
        )
    )


def quantise(values: np.ndarray, bits: int) -> tuple[np.ndarray, float, float]:
    """Quantise onto ``uint8``/``uint16`` over the array's own finite range.

    Parameters
    ----------
    values : ndarray, float
    bits : {8, 16}

    Returns
    -------
    q : ndarray of uint8 or uint16
        ``round((v − offset) / scale)``; NaN → 0.
    scale, offset : float
        ``v ≈ q · scale + offset``; the error is at most ``scale / 2``.  A constant
        array has ``scale = 1`` and every ``q = 0``.
    """
    if bits not in (8, 16):
        raise ValueError(f"bits: expected 8 or 16, got {bits!r}")
    values = np.asarray(values, dtype=np.float32)
    finite = values[np.isfinite(values)]
    lo = float(finite.min()) if finite.size else 0.0
    hi = float(finite.max()) if finite.size else 0.0
    top = (1 << bits) - 1
    scale = (hi - lo) / top if hi > lo else 1.0
    q = (values - np.float32(lo)) * np.float32(1.0 / scale) + np.float32(0.5)
    np.clip(q, 0, top, out=q)
    np.nan_to_num(q, copy=False, nan=0.0)
    return q.astype(np.uint8 if bits == 8 else np.uint16), scale, lo


def to_raw_bytes(values: np.ndarray, fmt: str) -> tuple[bytes, str, float, float]:
    """Little-endian bytes of a slice in one of :data:`RAW_FORMATS`.

    Returns
    -------
    data : bytes
        Row-major, ``rows · cols · itemsize`` bytes.
    dtype : str
        ``"float32"``, ``"uint16"`` or ``"uint8"``.
    scale, offset : float
        ``value = q · scale + offset`` (1 and 0 for float32).
    """
    if fmt == "f32":
        return np.ascontiguousarray(values, dtype="<f4").tobytes(), "float32", 1.0, 0.0
    if fmt in ("u16", "u8"):
        q, scale, offset = quantise(values, 16 if fmt == "u16" else 8)
        return (
            q.astype(q.dtype.newbyteorder("<"), copy=False).tobytes(),
            q.dtype.name,
            scale,
            offset,
        )
    raise ValueError(f"format: expected one of {RAW_FORMATS}, got {fmt!r}")
