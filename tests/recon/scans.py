"""A small simulated cone-beam scan with a known axis offset, in memory or as NXtomo.

The phantom is a water-like cylinder (r = 200 µm, 4 /cm) holding an off-centre dense rod
(r = 50 µm, 8 /cm); the projections come from the simulator's own ray-marching projector
(not the engine's matched one) through its detector model (Poisson noise, dark current,
flat-field non-uniformity).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from acquisition.drivers.base import AcquisitionSettings, Frame, FrameType, ScanGeometry
from acquisition.formats.nxtomo import NXtomoWriter
from acquisition.formats.scan import ScanData
from acquisition.simulator import DetectorModel, expose, flat_field_pattern, forward_project
from recon.engine.geometry import ConeBeamGeometry

SOD_UM, SDD_UM, PIXEL_UM = 20_000.0, 80_000.0, 40.0  # magnification 4: 10 µm at the axis
ROWS, COLS, N_ANGLES = 40, 64, 180
VOXEL_UM = 10.0
AXIS_OFFSET_PX = 1.5
CYLINDER_MU, ROD_MU = 4.0, 8.0  # 1/cm
CYLINDER_R_UM, ROD_R_UM, ROD_CENTRE_UM = 200.0, 50.0, (90.0, 40.0)


def phantom() -> np.ndarray:
    """The cylinder and rod, ``[48, 56, 56]`` float32 1/cm at 10 µm voxels."""
    n = 56
    c = (np.arange(n) - (n - 1) / 2) * VOXEL_UM
    y, x = np.meshgrid(c, c, indexing="ij")
    plane = np.where(x**2 + y**2 <= CYLINDER_R_UM**2, CYLINDER_MU, 0.0)
    rx, ry = ROD_CENTRE_UM
    plane[(x - rx) ** 2 + (y - ry) ** 2 <= ROD_R_UM**2] = ROD_MU
    return np.repeat(plane[None], 48, axis=0).astype(np.float32)


def simulated_scan(n_angles: int = N_ANGLES, seed: int = 7) -> ScanData:
    """Raw counts, 8 flats and 8 darks; the axis lies 1.5 px right of the centre column."""
    angles = np.linspace(0.0, 360.0, n_angles, endpoint=False)
    truth = ConeBeamGeometry(
        detector_shape=(ROWS, COLS), pixel_um=PIXEL_UM, angles_deg=angles,
        sod_um=SOD_UM, sdd_um=SDD_UM, offset_u_um=-AXIS_OFFSET_PX * PIXEL_UM,
    )  # fmt: skip
    integrals = forward_project(phantom(), VOXEL_UM, truth)
    model = DetectorModel()
    flat = flat_field_pattern((ROWS, COLS), 4, model, seed=3)
    rng = np.random.default_rng(seed)
    n0 = model.open_beam_photons(60.0, 10.0, 0.1, SDD_UM)  # ≈ 31 000 counts, unsaturated

    def frame(line_integral):
        return expose(line_integral, open_beam_photons=n0, flat=flat, exposure_s=0.1,
                      binning=4, model=model, rng=rng)  # fmt: skip

    projections = np.stack([frame(p) for p in integrals])
    flats = np.stack([frame(np.zeros((ROWS, COLS), np.float32)) for _ in range(8)])
    darks = np.stack([frame(None) for _ in range(8)])
    geometry = ScanGeometry(
        sod_um=SOD_UM, sdd_um=SDD_UM, pixel_um=PIXEL_UM, n_rows=ROWS, n_cols=COLS,
        axis_pixel_position=(COLS - 1) / 2,
    )  # fmt: skip
    return ScanData(Path("simulated"), "nxtomo", projections, flats, darks, angles, geometry)


def write_nxtomo(scan: ScanData, path: Path) -> tuple[str, int]:
    """Write ``scan`` as an NXtomo file (darks, flats, projections); return sha256, frames."""
    settings = AcquisitionSettings(
        kv=60.0, ua=10.0, exposure_s=0.1, frame_rate_hz=5.0, n_projections=scan.n_projections,
        n_flats=len(scan.flats), n_darks=len(scan.darks),
    )  # fmt: skip
    frames = [
        *(Frame(d, 0.0, 0.0, FrameType.DARK, i) for i, d in enumerate(scan.darks)),
        *(Frame(f, 0.0, 0.0, FrameType.FLAT, i) for i, f in enumerate(scan.flats)),
        *(
            Frame(p, float(a), 0.1 * i, FrameType.PROJECTION, i)
            for i, (p, a) in enumerate(zip(scan.projections, scan.angles_deg, strict=True))
        ),
    ]
    with NXtomoWriter(
        path, frame_shape=(ROWS, COLS), geometry=scan.geometry, settings=settings,
        sample_name="phantom",
    ) as writer:  # fmt: skip
        for frame in frames:
            writer.append(frame)
        written = writer.commit()
    return written.sha256, written.n_frames
