"""Raw-scan files: the streaming NXtomo writer, readers and validators.

Writer: :class:`NXtomoWriter` (frames streamed to a ``.partial`` file, committed by an
atomic rename, sha256 returned as :class:`WrittenScan`). Readers: :func:`read_scan`
(NXtomo, DXchange HDF5, TIFF stack + JSON) returning a Django-free :class:`ScanData`;
:func:`validate_scan` for imports. Every bad input raises a subclass of
:class:`ScanFormatError` (a ``ValueError``) with a clear message and a ``code``.
"""

from .dxchange import read_dxchange
from .errors import (
    AngleError,
    DimensionError,
    GeometryMissingError,
    MissingReferenceError,
    NotHDF5Error,
    ScanFormatError,
    UnreadableFileError,
    UnsupportedDtypeError,
)
from .io import FORMATS, detect_format, read_scan, validate_scan
from .nxtomo import COMPRESSIONS, NXtomoWriter, WrittenScan, read_nxtomo
from .scan import SUPPORTED_DTYPES, ProjectionStack, ScanData
from .tiff import read_tiff_stack, write_tiff_stack

__all__ = [
    "COMPRESSIONS",
    "FORMATS",
    "SUPPORTED_DTYPES",
    "AngleError",
    "DimensionError",
    "GeometryMissingError",
    "MissingReferenceError",
    "NXtomoWriter",
    "NotHDF5Error",
    "ProjectionStack",
    "ScanData",
    "ScanFormatError",
    "UnreadableFileError",
    "UnsupportedDtypeError",
    "WrittenScan",
    "detect_format",
    "read_dxchange",
    "read_nxtomo",
    "read_scan",
    "read_tiff_stack",
    "validate_scan",
    "write_tiff_stack",
]
