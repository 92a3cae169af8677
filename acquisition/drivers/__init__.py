"""Instrument drivers: the protocol (:mod:`.base`), the registry and the simulator."""

from .base import (
    AcquisitionAborted,
    AcquisitionSettings,
    Frame,
    FrameType,
    InstrumentCapabilities,
    InstrumentState,
    InstrumentStatus,
    InterlockError,
    Interlocks,
    ScanGeometry,
    SettingsError,
    XrayMicroscope,
    check_settings,
    n_scan_frames,
    projection_angles_deg,
    scan_frames,
)
from .registry import DEFAULT_DRIVERS, DriverError, driver_class, get_driver

__all__ = [
    "DEFAULT_DRIVERS",
    "AcquisitionAborted",
    "AcquisitionSettings",
    "DriverError",
    "Frame",
    "FrameType",
    "InstrumentCapabilities",
    "InstrumentState",
    "InstrumentStatus",
    "InterlockError",
    "Interlocks",
    "ScanGeometry",
    "SettingsError",
    "XrayMicroscope",
    "check_settings",
    "driver_class",
    "get_driver",
    "n_scan_frames",
    "projection_angles_deg",
    "scan_frames",
]
