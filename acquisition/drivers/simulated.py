"""A simulated laboratory X-ray microscope behind the driver protocol.

It stands in for the lab's instrument (cone beam, micro-focus source, rotation stage,
sCMOS detector of 2048 × 2048 pixels of 11 µm, ≤ 40 frames/s, 16 bit, binning 1/2/4)
and produces frames as the real one would: darks (beam off), flats (sample moved out
of the beam) and projections, one at a time, with angle and timestamp. The sample is
an attenuation volume (1/cm) centred on the rotation axis — by default the digital
bone phantom of the scan's anatomical site, or whatever :meth:`load_sample` was given
(the acquisition job gives the animal's remodelled phantom).

Physics: :mod:`acquisition.simulator` (ray-driven projection, Beer–Lambert, Poisson
noise, dark current, flat-field pattern, binning). The true geometry has a small
rotation-axis offset and detector tilt (``axis_offset_px``, ``detector_tilt_deg``) that
the file's *nominal* geometry does not know, so centre finding matters downstream.

Timing: with ``paced`` the frames come at the protocol's frame rate on an absolute
schedule (no drift); when the consumer holds a frame longer than one period (a paused
job), the schedule restarts from the next request instead of bursting to catch up.
Without it they come as fast as they are computed and carry their *nominal* timestamps
(frame number / frame rate), so a scan is bit-for-bit reproducible for a seed.

Configuration (``config`` mapping; all optional, JSON-friendly):

=====================  =====================  ==========================================
key                    default                meaning
=====================  =====================  ==========================================
detector_shape         [2048, 2048]           unbinned rows, cols (smaller for tests)
pixel_um               11.0                   unbinned pixel pitch (µm)
max_frame_rate_hz      40.0                   fastest frame rate
sod_um, sdd_um         25 000, 250 000        source–axis and source–detector distances
axis_offset_px         2.5                    true axis offset, unbinned pixels
detector_tilt_deg      0.2                    true in-plane detector tilt
kv_range, ua_range     [20, 90], [10, 250]    source ranges (kV, µA)
max_power_w            10.0                   source power limit (W)
max_speed_deg_s        90.0                   rotation stage speed limit
phantom_shape          [128, 128, 128]        default phantom size (voxels)
phantom_voxel_um       10.0                   default phantom voxel (µm)
rays_per_voxel         1.5                    projection sampling per projected voxel
paced                  null                   override ``AcquisitionSettings.paced``
instrument_seed        1                      fixed flat-field pattern of the instrument
door_closed            true                   simulated interlock
detector_temperature_c -10.0                  simulated interlock (max −5 °C)
=====================  =====================  ==========================================
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from recon.engine.geometry import ConeBeamGeometry

from ..phantom import make_phantom
from ..simulator import DetectorModel, expose, flat_field_pattern, line_integrals
from .base import (
    AcquisitionAborted,
    AcquisitionSettings,
    DetectorCapabilities,
    Frame,
    FrameType,
    InstrumentCapabilities,
    InstrumentState,
    InstrumentStatus,
    InterlockError,
    Interlocks,
    ScanGeometry,
    SourceCapabilities,
    StageCapabilities,
    check_settings,
    projection_angles_deg,
)

__all__ = ["DEFAULT_CONFIG", "FramePacer", "SimulatedXrayMicroscope"]

DEFAULT_CONFIG: dict[str, Any] = {
    "detector_shape": (2048, 2048),
    "pixel_um": 11.0,
    "max_frame_rate_hz": 40.0,
    "sod_um": 25_000.0,
    "sdd_um": 250_000.0,
    "axis_offset_px": 2.5,
    "detector_tilt_deg": 0.2,
    "kv_range": (20.0, 90.0),
    "ua_range": (10.0, 250.0),
    "max_power_w": 10.0,
    "max_speed_deg_s": 90.0,
    "phantom_shape": (128, 128, 128),
    "phantom_voxel_um": 10.0,
    "rays_per_voxel": 1.5,
    "paced": None,
    "instrument_seed": 1,
    "door_closed": True,
    "detector_temperature_c": -10.0,
}


class FramePacer:
    """Absolute frame schedule that restarts after a consumer pause (never bursts)."""

    def __init__(self, period_s: float, abort: threading.Event, clock: Callable[[], float]):
        self.period_s = period_s
        self._abort = abort
        self._clock = clock
        self._due: float | None = None

    def wait(self) -> None:
        """Block until the next frame is due (returns early when abort is set)."""
        now = self._clock()
        if self._due is None or now > self._due + self.period_s:
            self._due = now + self.period_s  # first frame, or resumed after a pause
        remaining = self._due - self._clock()
        if remaining > 0:
            self._abort.wait(remaining)
        self._due += self.period_s


def _resample_axis(n_out: int, n_in: int, factor: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear-interpolation indices/weights from a grid ``factor`` × coarser (same centre)."""
    x = (np.arange(n_out) - (n_out - 1) / 2.0) / factor + (n_in - 1) / 2.0
    i0 = np.clip(np.floor(x).astype(np.intp), 0, n_in - 2)
    return i0, (x - i0).astype(np.float32)


class SimulatedXrayMicroscope:
    """The simulated instrument (see the module docstring for configuration).

    Parameters
    ----------
    config : mapping, optional
        Overrides of :data:`DEFAULT_CONFIG`; unknown keys raise ``ValueError``.
    clock : callable, optional
        Monotonic clock in seconds (tests may inject one).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        config = dict(config or {})
        unknown = sorted(set(config) - set(DEFAULT_CONFIG))
        if unknown:
            raise ValueError(
                f"unknown simulated-driver config keys {unknown}; known: {sorted(DEFAULT_CONFIG)}"
            )
        self.config = {**DEFAULT_CONFIG, **config}
        c = self.config
        rows, cols = (int(n) for n in c["detector_shape"])
        if rows < 4 or cols < 4 or rows % 4 or cols % 4:
            raise ValueError(f"detector_shape must be multiples of 4, got {c['detector_shape']}")
        self._capabilities = InstrumentCapabilities(
            name="simulated X-ray microscope",
            detector=DetectorCapabilities(
                n_rows=rows,
                n_cols=cols,
                pixel_um=float(c["pixel_um"]),
                max_frame_rate_hz=float(c["max_frame_rate_hz"]),
            ),
            source=SourceCapabilities(
                kv_min=float(c["kv_range"][0]),
                kv_max=float(c["kv_range"][1]),
                ua_min=float(c["ua_range"][0]),
                ua_max=float(c["ua_range"][1]),
                max_power_w=float(c["max_power_w"]),
            ),
            stage=StageCapabilities(
                max_angular_range_deg=360.0,
                max_speed_deg_s=float(c["max_speed_deg_s"]),
                sample_out_travel_um=20_000.0,
            ),
        )
        # Validates SOD/SDD early (ScanGeometry raises on nonsense).
        ScanGeometry(float(c["sod_um"]), float(c["sdd_um"]), float(c["pixel_um"]), rows, cols, 0)
        self.model = DetectorModel()
        self._clock = clock
        self._abort = threading.Event()
        self._lock = threading.Lock()
        self._state = InstrumentState.IDLE
        self._message = ""
        self._source_on = False
        self._loaded_sample: tuple[np.ndarray, float] | None = None
        self._default: tuple[tuple[str, int], tuple[np.ndarray, float]] | None = None
        self._sample: tuple[np.ndarray, float] | None = None
        self._settings: AcquisitionSettings | None = None
        self._flat_series = 0

    # -- protocol: description and status ------------------------------------------
    @property
    def capabilities(self) -> InstrumentCapabilities:
        """Static description of the simulated hardware."""
        return self._capabilities

    def interlocks(self) -> Interlocks:
        """Current (simulated) interlock signals."""
        return Interlocks(
            source_on=self._source_on,
            door_closed=bool(self.config["door_closed"]),
            detector_temperature_c=float(self.config["detector_temperature_c"]),
        )

    def status(self) -> InstrumentStatus:
        """State, interlocks and the last message."""
        with self._lock:
            return InstrumentStatus(self._state, self.interlocks(), self._message)

    def _set_state(self, state: InstrumentState, message: str = "") -> None:
        with self._lock:
            self._state, self._message = state, message

    # -- sample ------------------------------------------------------------------
    def load_sample(self, mu_per_cm: np.ndarray, voxel_um: float) -> None:
        """Put a sample on the stage: attenuation (1/cm) ``[z, y, x]`` centred on the axis.

        It stays for every later scan; without one, each scan images the baseline
        phantom of its ``anatomical_site`` seeded by its ``seed``.

        Parameters
        ----------
        mu_per_cm : numpy.ndarray
            Non-negative linear attenuation coefficients, 3-D.
        voxel_um : float
            Isotropic voxel size (µm).
        """
        mu = np.asarray(mu_per_cm)
        if mu.ndim != 3 or not np.issubdtype(mu.dtype, np.floating):
            raise ValueError(f"mu_per_cm must be a 3-D float array, got {mu.dtype} {mu.shape}")
        if not (math.isfinite(voxel_um) and voxel_um > 0):
            raise ValueError(f"voxel_um must be positive, got {voxel_um!r}")
        if float(mu.min()) < 0:
            raise ValueError("mu_per_cm must be non-negative")
        self._loaded_sample = (np.ascontiguousarray(mu, dtype=np.float32), float(voxel_um))

    def _default_sample(self, settings: AcquisitionSettings) -> tuple[np.ndarray, float]:
        """The site's baseline phantom seeded by ``settings.seed`` (kept for the next scan)."""
        key = (settings.anatomical_site, int(settings.seed))
        if self._default is None or self._default[0] != key:
            phantom = make_phantom(
                settings.anatomical_site,
                shape=tuple(self.config["phantom_shape"]),
                voxel_um=float(self.config["phantom_voxel_um"]),
                seed=settings.seed,
            )
            self._default = (key, (phantom.mu_per_cm, phantom.voxel_um))
        return self._default[1]

    # -- protocol: preparation -----------------------------------------------------
    def prepare(self, settings: AcquisitionSettings) -> None:
        """Check settings and interlocks, switch the source on, set the scan up.

        Raises
        ------
        SettingsError
            Settings outside the capabilities.
        InterlockError
            Door open or detector too warm.
        """
        check_settings(settings, self._capabilities)
        self._source_on = True
        interlocks = self.interlocks()
        if not interlocks.ok:
            self._source_on = False
            message = "; ".join(interlocks.problems())
            self._set_state(InstrumentState.FAULT, message)
            raise InterlockError(f"cannot scan: {message}")
        self._sample = self._loaded_sample or self._default_sample(settings)
        self._settings = settings
        self._setup_detector(settings)
        self._abort.clear()
        self._flat_series = 0
        self._frames_done = 0
        self._t0 = self._clock()
        paced = self.config["paced"]
        self._paced = settings.paced if paced is None else bool(paced)
        self._pacer = FramePacer(1.0 / settings.frame_rate_hz, self._abort, self._clock)
        self._set_state(InstrumentState.PREPARED, "ready")

    def _setup_detector(self, s: AcquisitionSettings) -> None:
        c = self.config
        b = s.binning
        rows, cols = (
            self._capabilities.detector.n_rows // b,
            self._capabilities.detector.n_cols // b,
        )
        pixel = float(c["pixel_um"]) * b
        sod, sdd = float(c["sod_um"]), float(c["sdd_um"])
        offset_u = -float(c["axis_offset_px"]) * float(c["pixel_um"])
        angles = projection_angles_deg(s)
        self._true_geometry = ConeBeamGeometry(
            (rows, cols),
            pixel,
            angles,
            sod_um=sod,
            sdd_um=sdd,
            offset_u_um=offset_u,
            detector_tilt_deg=float(c["detector_tilt_deg"]),
        )
        # Rays no finer than the sample's voxels projected onto the detector.
        voxel_on_detector = self._sample[1] * sdd / sod
        factor = max(1, int(voxel_on_detector / (pixel * float(c["rays_per_voxel"]))))
        self._factor = factor
        if factor > 1:
            coarse = (-(-rows // factor) + 1, -(-cols // factor) + 1)
            self._sim_geometry = ConeBeamGeometry(
                coarse,
                pixel * factor,
                angles,
                sod_um=sod,
                sdd_um=sdd,
                offset_u_um=offset_u,
                detector_tilt_deg=float(c["detector_tilt_deg"]),
            )
            self._rows_interp = _resample_axis(rows, coarse[0], factor)
            self._cols_interp = _resample_axis(cols, coarse[1], factor)
        else:
            self._sim_geometry = self._true_geometry
        self._flat = flat_field_pattern((rows, cols), b, self.model, int(c["instrument_seed"]))
        self._n0 = self.model.open_beam_photons(s.kv, s.ua, s.exposure_s, sdd)
        self._angles = angles

    def geometry(self) -> ScanGeometry:
        """Nominal geometry of the prepared scan (binned pixels, axis assumed centred)."""
        g = self._prepared_true_geometry()
        return ScanGeometry(
            sod_um=g.sod_um,
            sdd_um=g.sdd_um,
            pixel_um=g.pixel_um,
            n_rows=g.nrows,
            n_cols=g.ncols,
            axis_pixel_position=(g.ncols - 1) / 2.0,
        )

    def true_geometry(self) -> ConeBeamGeometry:
        """The geometry the frames are really made with (axis offset and tilt included)."""
        return self._prepared_true_geometry()

    def _prepared_true_geometry(self) -> ConeBeamGeometry:
        if self._settings is None:
            raise RuntimeError("call prepare(settings) first")
        return self._true_geometry

    # -- protocol: acquisition -----------------------------------------------------
    def abort(self) -> None:
        """Stop the running acquisition promptly (safe from any thread)."""
        self._abort.set()

    def acquire_darks(self) -> Iterator[Frame]:
        """Shutter closed: ``n_darks`` dark frames at the current angle (0°)."""
        s = self._require_prepared()
        for k in range(s.n_darks):
            yield self._frame(FrameType.DARK, 0, k, 0.0, None)
        self._series_done()

    def acquire_flats(self) -> Iterator[Frame]:
        """Sample moved out of the beam: ``n_flats`` open-beam frames, then back in."""
        s = self._require_prepared()
        series = self._flat_series
        self._flat_series += 1
        air = np.zeros(self._flat.shape, dtype=np.float32)
        for k in range(s.n_flats):
            yield self._frame(FrameType.FLAT, series, k, 0.0, air)
        self._series_done()

    def acquire_projections(self) -> Iterator[Frame]:
        """Rotate and yield one projection per angle of the protocol."""
        self._require_prepared()
        mu, voxel_um = self._sample
        for k, angle in enumerate(self._angles):
            self._check_abort()
            p = line_integrals(mu, voxel_um, self._sim_geometry, k)
            if self._factor > 1:
                p = self._upsample(p)
            yield self._frame(FrameType.PROJECTION, 0, k, float(angle), p)
        self._series_done()

    def _series_done(self) -> None:
        self._set_state(InstrumentState.PREPARED, "series complete")

    def _upsample(self, p: np.ndarray) -> np.ndarray:
        (r0, wr), (c0, wc) = self._rows_interp, self._cols_interp
        rows = p[r0] * (1 - wr)[:, None] + p[r0 + 1] * wr[:, None]
        return rows[:, c0] * (1 - wc) + rows[:, c0 + 1] * wc

    def _require_prepared(self) -> AcquisitionSettings:
        if self._settings is None or self._state not in (
            InstrumentState.PREPARED,
            InstrumentState.ACQUIRING,
        ):
            raise RuntimeError(f"driver is {self._state.value}: call prepare(settings) first")
        self._set_state(InstrumentState.ACQUIRING, "acquiring")
        return self._settings

    def _check_abort(self) -> None:
        if self._abort.is_set():
            self._source_on = False
            self._set_state(InstrumentState.ABORTED, "aborted by request")
            raise AcquisitionAborted("acquisition aborted")

    def _frame(
        self,
        kind: FrameType,
        series: int,
        index: int,
        angle_deg: float,
        line_integral: np.ndarray | None,
    ) -> Frame:
        self._check_abort()
        s = self._settings
        rng = np.random.default_rng([int(s.seed), int(kind), series, index])
        image = expose(
            line_integral,
            open_beam_photons=self._n0,
            flat=self._flat,
            exposure_s=s.exposure_s,
            binning=s.binning,
            model=self.model,
            rng=rng,
        )
        if self._paced:
            self._pacer.wait()
            timestamp = self._clock() - self._t0
        else:
            timestamp = (self._frames_done + 1) / s.frame_rate_hz
        self._check_abort()
        self._frames_done += 1
        return Frame(
            image=image, angle_deg=angle_deg, timestamp_s=timestamp, kind=kind, index=index
        )
