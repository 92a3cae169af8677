"""Errors of scan-file reading and validation: one class per kind of bad input.

All subclass :class:`ScanFormatError` (a ``ValueError``), whose :attr:`code` is a short
stable name the API can return beside the message.
"""

from __future__ import annotations

__all__ = [
    "AngleError",
    "DimensionError",
    "GeometryMissingError",
    "MissingReferenceError",
    "NotHDF5Error",
    "ScanFormatError",
    "UnreadableFileError",
    "UnsupportedDtypeError",
]


class ScanFormatError(ValueError):
    """A scan file that cannot be used; the message says what is wrong and where."""

    code = "invalid_scan"


class UnreadableFileError(ScanFormatError):
    """A file that is missing, truncated or not of the expected kind (HDF5, TIFF, JSON)."""

    code = "not_readable"


class NotHDF5Error(UnreadableFileError):
    """Not an HDF5 file, or a truncated/corrupt one."""


class DimensionError(ScanFormatError):
    """Arrays of the wrong number of dimensions or of mismatched shapes."""

    code = "wrong_dimensions"


class AngleError(ScanFormatError):
    """Rotation angles missing, not finite, of the wrong count, or not increasing."""

    code = "bad_angles"


class UnsupportedDtypeError(ScanFormatError):
    """Detector data of a type the reconstruction does not take."""

    code = "unsupported_dtype"


class MissingReferenceError(ScanFormatError):
    """No flat fields or no dark fields."""

    code = "missing_flats_or_darks"


class GeometryMissingError(ScanFormatError):
    """Source/detector distances or the pixel size are missing or invalid."""

    code = "geometry_missing"
