"""The instrument protocol: what any X-ray microscope driver must offer.

Code that runs a scan (the acquisition job, the demo, the tests) depends on the small
typed protocol :class:`XrayMicroscope` below, never on a vendor class, in the spirit of
ophyd-async: a driver *produces frames*; the NXtomo writer (:mod:`acquisition.formats`)
*stores* them; the job wires the two.

Writing a driver for your own instrument
----------------------------------------
1. Write one class (e.g. ``acquisition/drivers/zeiss_versa.py``, or in your own package)
   with the attributes and methods of :class:`XrayMicroscope`: a ``capabilities``
   property, ``status()``, ``prepare(settings)``, ``geometry()``,
   ``acquire_darks()``, ``acquire_flats()``, ``acquire_projections()`` and ``abort()``.
   No base class is needed; structural typing checks it
   (``isinstance(driver, XrayMicroscope)`` works at run time).
2. ``prepare`` checks the :class:`AcquisitionSettings` against the capabilities
   (:func:`check_settings` does the generic part) and the interlocks, and sets the
   hardware up; the three ``acquire_*`` methods then yield :class:`Frame` objects one by
   one as the detector delivers them, so a 2048² × 1 000-frame scan never sits in memory.
3. ``abort()`` may be called from another thread: the running ``acquire_*`` iterator
   must stop promptly (raise :class:`AcquisitionAborted`) and leave the source safe.
4. Name the class in the driver mapping of the settings, e.g.
   ``{"versa": "mylab.drivers.ZeissVersa"}``; :mod:`acquisition.drivers.registry`
   finds it by that dotted path. :class:`acquisition.drivers.simulated.SimulatedXrayMicroscope`
   is a complete example.

Units follow ``docs/conventions.md``: µm, degrees, seconds, kV, µA.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum, StrEnum
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "AcquisitionAborted",
    "AcquisitionSettings",
    "DetectorCapabilities",
    "Frame",
    "FrameType",
    "InstrumentCapabilities",
    "InstrumentState",
    "InstrumentStatus",
    "InterlockError",
    "Interlocks",
    "ScanGeometry",
    "SettingsError",
    "SourceCapabilities",
    "StageCapabilities",
    "XrayMicroscope",
    "check_settings",
    "n_scan_frames",
    "projection_angles_deg",
    "scan_frames",
]


class FrameType(IntEnum):
    """Kind of a frame; the value is the NXtomo ``image_key``."""

    PROJECTION = 0
    FLAT = 1
    DARK = 2


@dataclass(frozen=True, eq=False)
class Frame:
    """One detector frame as delivered by a driver.

    Attributes
    ----------
    image : numpy.ndarray
        uint16, shape [rows, cols] (binned), indexed ``[v, u]`` as in conventions.md.
    angle_deg : float
        Rotation angle θ of the stage at the frame (degrees).
    timestamp_s : float
        Seconds since the start of the acquisition (``prepare``) at the frame's end.
    kind : FrameType
        Dark, flat or projection (``int(kind)`` is the NXtomo image_key).
    index : int
        Running number of the frame within its kind (0-based).
    """

    image: np.ndarray
    angle_deg: float
    timestamp_s: float
    kind: FrameType
    index: int

    @property
    def image_key(self) -> int:
        """NXtomo image_key: 0 projection, 1 flat, 2 dark."""
        return int(self.kind)


@dataclass(frozen=True)
class DetectorCapabilities:
    """What the camera can do (unbinned figures)."""

    n_rows: int
    n_cols: int
    pixel_um: float
    max_frame_rate_hz: float
    binnings: tuple[int, ...] = (1, 2, 4)
    bit_depth: int = 16


@dataclass(frozen=True)
class SourceCapabilities:
    """Ranges of the X-ray tube (tube voltage in kV, current in µA, power in W)."""

    kv_min: float
    kv_max: float
    ua_min: float
    ua_max: float
    max_power_w: float


@dataclass(frozen=True)
class StageCapabilities:
    """Rotation stage and the sample-out translation used for flat fields."""

    max_angular_range_deg: float
    max_speed_deg_s: float
    sample_out_travel_um: float


@dataclass(frozen=True)
class InstrumentCapabilities:
    """Everything a driver can do, for validation and for the user interface."""

    name: str
    detector: DetectorCapabilities
    source: SourceCapabilities
    stage: StageCapabilities


@dataclass(frozen=True)
class Interlocks:
    """Safety and readiness signals; a scan starts only when :attr:`ok` is true."""

    source_on: bool
    door_closed: bool
    detector_temperature_c: float
    detector_temperature_max_c: float = -5.0

    @property
    def ok(self) -> bool:
        """True when the source is on, the door closed and the detector cold enough."""
        return (
            self.source_on
            and self.door_closed
            and self.detector_temperature_c <= self.detector_temperature_max_c
        )

    def problems(self) -> list[str]:
        """Human-readable list of what prevents a scan (empty when :attr:`ok`)."""
        out = []
        if not self.source_on:
            out.append("X-ray source is off")
        if not self.door_closed:
            out.append("enclosure door is open")
        if self.detector_temperature_c > self.detector_temperature_max_c:
            out.append(
                f"detector at {self.detector_temperature_c:.1f} °C, above "
                f"{self.detector_temperature_max_c:.1f} °C"
            )
        return out


class InstrumentState(StrEnum):
    """States of a driver (string values, for logs and the API)."""

    IDLE = "idle"
    PREPARED = "prepared"
    ACQUIRING = "acquiring"
    ABORTED = "aborted"
    FAULT = "fault"


@dataclass(frozen=True)
class InstrumentStatus:
    """Snapshot of the driver: its state, interlocks and a short message."""

    state: InstrumentState
    interlocks: Interlocks
    message: str = ""


@dataclass(frozen=True)
class ScanGeometry:
    """Nominal circular cone-beam geometry of a scan, as recorded in the file.

    All lengths in µm; ``pixel_um`` is the *binned* pixel. ``axis_pixel_position`` is the
    column onto which the rotation axis is nominally projected (``(n_cols - 1) / 2`` for a
    centred detector; the true axis may differ, which is why centre finding exists).
    """

    sod_um: float
    sdd_um: float
    pixel_um: float
    n_rows: int
    n_cols: int
    axis_pixel_position: float

    def __post_init__(self) -> None:
        if not (self.sod_um > 0 and self.sdd_um > self.sod_um):
            raise ValueError(
                f"geometry needs 0 < sod_um < sdd_um, got sod_um={self.sod_um}, "
                f"sdd_um={self.sdd_um}"
            )
        if not self.pixel_um > 0:
            raise ValueError(f"pixel_um must be positive, got {self.pixel_um}")
        if self.n_rows < 1 or self.n_cols < 1:
            raise ValueError(f"detector shape must be positive, got {self.n_rows}×{self.n_cols}")

    @property
    def magnification(self) -> float:
        """Geometric magnification ``sdd_um / sod_um``."""
        return self.sdd_um / self.sod_um

    @property
    def voxel_um_at_axis(self) -> float:
        """Pixel size projected back onto the rotation axis (µm)."""
        return self.pixel_um / self.magnification


@dataclass
class AcquisitionSettings:
    """What the user asks of one scan.

    Attributes
    ----------
    kv, ua : float
        Tube voltage (kV) and current (µA).
    exposure_s : float
        Exposure per frame (s); at most ``1 / frame_rate_hz``.
    frame_rate_hz : float
        Frame rate (frames/s).
    n_projections : int
        Number of projections; angle k is ``k * angular_range_deg / n_projections``.
    angular_range_deg : float
        Rotation covered by the projections (degrees).
    binning : int
        Detector binning (1, 2 or 4 on the reference instrument).
    n_flats, n_darks : int
        Flat (sample out, beam on) and dark (beam off) frames per series.
    flats_before, flats_after : bool
        Take a flat series before and/or after the projections.
    anatomical_site : str
        One of :data:`acquisition.phantom.SITES` (used by the simulator to choose the
        digital phantom; a real instrument records it).
    seed : int
        Random seed (the simulator's noise; a real instrument ignores it).
    paced : bool
        Deliver frames in real time at ``frame_rate_hz`` (True) or as fast as possible.
    """

    kv: float = 60.0
    ua: float = 100.0
    exposure_s: float = 0.025
    frame_rate_hz: float = 40.0
    n_projections: int = 360
    angular_range_deg: float = 360.0
    binning: int = 4
    n_flats: int = 10
    n_darks: int = 10
    flats_before: bool = True
    flats_after: bool = False
    anatomical_site: str = "tibia-right-proximal"
    seed: int = 0
    paced: bool = False


class SettingsError(ValueError):
    """Acquisition settings outside what the instrument can do."""


class InterlockError(RuntimeError):
    """An interlock prevents the scan (door open, source off, detector warm)."""


class AcquisitionAborted(RuntimeError):
    """Raised by an ``acquire_*`` iterator after :meth:`XrayMicroscope.abort`."""


def check_settings(settings: AcquisitionSettings, capabilities: InstrumentCapabilities) -> None:
    """Check settings against capabilities.

    Raises
    ------
    SettingsError
        With a message naming the offending field and the allowed range.
    """
    det, src, stage = capabilities.detector, capabilities.source, capabilities.stage
    s = settings
    if not src.kv_min <= s.kv <= src.kv_max:
        raise SettingsError(f"kv={s.kv} outside the source range {src.kv_min}–{src.kv_max} kV")
    if not src.ua_min <= s.ua <= src.ua_max:
        raise SettingsError(f"ua={s.ua} outside the source range {src.ua_min}–{src.ua_max} µA")
    if s.kv * s.ua * 1e-3 > src.max_power_w:
        raise SettingsError(
            f"kv × ua = {s.kv * s.ua * 1e-3:.1f} W exceeds the source limit {src.max_power_w} W"
        )
    if not 0 < s.frame_rate_hz <= det.max_frame_rate_hz:
        raise SettingsError(
            f"frame_rate_hz={s.frame_rate_hz} outside 0–{det.max_frame_rate_hz} frames/s"
        )
    if not 0 < s.exposure_s <= 1.0 / s.frame_rate_hz + 1e-12:
        raise SettingsError(
            f"exposure_s={s.exposure_s} must be positive and at most 1/frame_rate_hz "
            f"= {1.0 / s.frame_rate_hz:.4g} s"
        )
    if s.binning not in det.binnings:
        raise SettingsError(f"binning={s.binning} not one of {det.binnings}")
    if det.n_rows % s.binning or det.n_cols % s.binning:
        raise SettingsError(f"binning={s.binning} does not divide the detector shape")
    if s.n_projections < 1:
        raise SettingsError(f"n_projections must be at least 1, got {s.n_projections}")
    if not 0 < s.angular_range_deg <= stage.max_angular_range_deg:
        raise SettingsError(
            f"angular_range_deg={s.angular_range_deg} outside 0–{stage.max_angular_range_deg}°"
        )
    rotation_speed = s.angular_range_deg / s.n_projections * s.frame_rate_hz
    if rotation_speed > stage.max_speed_deg_s:
        raise SettingsError(
            f"rotation at {rotation_speed:.1f} °/s exceeds the stage limit "
            f"{stage.max_speed_deg_s} °/s: lower frame_rate_hz or raise n_projections"
        )
    if s.n_flats < 1:
        raise SettingsError(f"n_flats must be at least 1, got {s.n_flats}")
    if s.n_darks < 1:
        raise SettingsError(f"n_darks must be at least 1, got {s.n_darks}")
    if not (s.flats_before or s.flats_after):
        raise SettingsError("at least one of flats_before and flats_after must be true")


def projection_angles_deg(settings: AcquisitionSettings) -> np.ndarray:
    """Angles of the projections (degrees, float64, shape [n_projections]).

    Angle k is ``k * angular_range_deg / n_projections`` (the end angle is not repeated).
    """
    step = settings.angular_range_deg / settings.n_projections
    return np.arange(settings.n_projections, dtype=np.float64) * step


@runtime_checkable
class XrayMicroscope(Protocol):
    """What a cone-beam X-ray microscope driver offers."""

    @property
    def capabilities(self) -> InstrumentCapabilities:
        """Static description of the hardware."""
        ...

    def status(self) -> InstrumentStatus:
        """Current state and interlocks (cheap, callable at any time)."""
        ...

    def prepare(self, settings: AcquisitionSettings) -> None:
        """Validate settings and interlocks and set the hardware up for one scan.

        Raises :class:`SettingsError` or :class:`InterlockError`.
        """
        ...

    def geometry(self) -> ScanGeometry:
        """Nominal geometry of the prepared scan (binned pixels)."""
        ...

    def acquire_darks(self) -> Iterator[Frame]:
        """Beam off: yield ``n_darks`` dark frames."""
        ...

    def acquire_flats(self) -> Iterator[Frame]:
        """Sample out of the beam: yield ``n_flats`` flat frames, then move it back."""
        ...

    def acquire_projections(self) -> Iterator[Frame]:
        """Rotate and yield ``n_projections`` projections."""
        ...

    def abort(self) -> None:
        """Stop any running acquisition promptly (thread-safe)."""
        ...


def scan_frames(driver: XrayMicroscope, settings: AcquisitionSettings) -> Iterator[Frame]:
    """Run a whole scan in the usual order: darks, flats (before), projections, flats (after).

    ``prepare`` must have been called with the same settings.
    """
    yield from driver.acquire_darks()
    if settings.flats_before:
        yield from driver.acquire_flats()
    yield from driver.acquire_projections()
    if settings.flats_after:
        yield from driver.acquire_flats()


def n_scan_frames(settings: AcquisitionSettings) -> int:
    """Total number of frames :func:`scan_frames` yields."""
    n_flat_series = int(settings.flats_before) + int(settings.flats_after)
    return settings.n_darks + n_flat_series * settings.n_flats + settings.n_projections
