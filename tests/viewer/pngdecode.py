"""A minimal reader of 8-bit greyscale PNGs (filter type 0 only) to check the encoder."""

from __future__ import annotations

import struct
import zlib

import numpy as np


def decode_gray_png(data: bytes) -> np.ndarray:
    """Pixels of a greyscale 8-bit PNG whose rows all use filter 0; checks every CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    pos, idat, size = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, f"bad CRC in {kind!r}"
        if kind == b"IHDR":
            cols, rows, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert (depth, colour, interlace) == (8, 0, 0)
            size = (rows, cols)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(size[0], size[1] + 1)
    assert not raw[:, 0].any(), "a row uses a filter other than 0"
    return raw[:, 1:]
