"""Bone segmentation, cortical/trabecular compartments and user-defined regions.

Segmentation follows the practice Bouxsein et al. (2010) ask to be reported: a
Gaussian low-pass filter (σ in voxels, kernel half-width in σ) and one global
threshold — in mgHA/cm³ on a calibrated volume, or Otsu's threshold on the
filtered grey values when the volume is not calibrated. The settings actually used
come back with the mask, ready to be stored with the result.

Compartments (mouse long bones and vertebrae, shaft along z), from the periosteal
hull inwards, the scale taken from the measured cortex rather than a fixed radius:

1. the periosteal envelope, plane by plane: the bone closed with a disk of
   ``close_radius_vox`` and its holes filled. Only the largest connected envelope is
   the bone; everything else (calibration rods, a neighbouring bone, specks) is left
   out of every compartment;
2. the cortical thickness ``T``: the envelope's bone fraction as a function of the
   depth below the periosteal surface is close to 1 through the compact cortex and
   drops to the trabecular BV/TV (or 0) beneath it; ``T`` is the depth where it
   crosses 1/2. Without a compact outer layer (below 1/2 at the surface) there is no
   cortex and no medulla;
3. the marrow cavity: the marrow inside the envelope closed, plane by plane, with a
   disk of radius ``ceil(SCALE · T)`` (``marrow_close_radius_vox`` overrides it). The
   closing swallows every bone structure thinner than about twice that radius with
   marrow on both sides — trabeculae, those joined to the cortex included, up to the
   endosteal surface — but not the cortex, which has no marrow beyond it. The outer
   half of the cortex (depth below ``T / 2``) is kept out, so that a gap through a
   thin, noisy cortex cannot let it through; the largest connected part is the
   cavity (small ones, intracortical pores, stay cortical);
4. the medulla, plane by plane: the holes of the cortical ring (the envelope minus
   the cavity, the components on the envelope's outline) that hold cavity, enclosed
   by the ring's bone (gaps up to the periosteal closing bridged). A plane whose
   marrow no wall of bone encloses (a cut through a core of trabeculae) has none;
5. trabeculae fused to the endosteal surface: bone of the ring deeper than the
   local cortical thickness — a robust local statistic of the endosteal depth over
   ±45° around the shaft and a few ``T`` along it — by more than a quarter of it is
   trabecular (:func:`_fused_to_endosteum`);
6. the cortical compartment: the envelope minus the medulla.

On the tibia phantom of the end-to-end validation (cortex ≈ 4.6 voxels) the medulla
covers 99.6 % of the true trabecular VOI with 0.01 % outside it, BV/TV −2 % from the
truth; trabecular plates lying on the endosteal surface over more than the window
stay cortical (−5 % to −7 % on two of four phantom animals).

References
----------
.. [1] Bouxsein ML et al. Guidelines for assessment of bone microstructure in rodents
   using micro-computed tomography. J Bone Miner Res 2010;25:1468-1486.
.. [2] Otsu N. A threshold selection method from gray-level histograms.
   IEEE Trans Syst Man Cybern 1979;9:62-66.
.. [3] Buie HR, Campbell GM, Klinck RJ, MacNeil JA, Boyd SK. Automatic segmentation
   of cortical and trabecular compartments based on a dual threshold technique for
   in vivo micro-CT bone analysis. Bone 2007;41:505-515.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from skimage.filters import threshold_otsu

from .morphometry.edt import squared_edt

__all__ = [
    "BONE_THRESHOLD_MGHA_CM3",
    "FUSED_MARGIN",
    "SCALE",
    "SECTORS",
    "WINDOW_BLOCKS",
    "WINDOW_SECTORS",
    "Compartments",
    "Segmentation",
    "SegmentationParameters",
    "combine_regions",
    "separate_compartments",
    "segment_bone",
    "slab_region",
]


SCALE = 1.5
"""Radius of the marrow closing in units of the measured cortical thickness."""

SECTORS = 64
"""Angular sectors of the local cortical thickness (5.6° each)."""

WINDOW_SECTORS = 8
"""Half-width (sectors, ±45°) of the window over which the local thickness is taken."""

WINDOW_BLOCKS = 2
"""Half-height (blocks of ``ceil(T)`` planes) of that window."""

FUSED_MARGIN = 0.25
"""Depth beyond the local cortical thickness, as a fraction of it (at least one
voxel), from which bone of the cortical ring is taken for trabeculae fused to it."""


BONE_THRESHOLD_MGHA_CM3 = 500.0
"""Global threshold for calibrated volumes when the caller chooses none (mgHA/cm³).

Half the mature tissue mineral density of mouse trabecular bone (≈ 1000 mgHA/cm³): the
level at which a partial-volume edge keeps its volume.  Otsu's threshold on a calibrated
volume separates soft tissue from bone rather than marrow from bone (it reads the
simulator's trabecular BV/TV about twice too high).
"""


@dataclass(frozen=True)
class SegmentationParameters:
    """Filter and threshold settings.

    Attributes
    ----------
    sigma_vox : float
        Gaussian standard deviation (voxels); 0 disables the filter.
    truncate : float
        Kernel half-width in standard deviations.
    threshold_mgha_cm3 : float or None
        Global threshold on a calibrated volume (mgHA/cm³); None: Otsu's threshold
        of the filtered grey values.
    """

    sigma_vox: float = 1.0
    truncate: float = 3.0
    threshold_mgha_cm3: float | None = None

    def __post_init__(self) -> None:
        if not self.sigma_vox >= 0:
            raise ValueError(f"sigma_vox must be >= 0, got {self.sigma_vox!r}")
        if not self.truncate > 0:
            raise ValueError(f"truncate must be > 0, got {self.truncate!r}")
        if self.threshold_mgha_cm3 is not None and not np.isfinite(self.threshold_mgha_cm3):
            raise ValueError(
                f"threshold_mgha_cm3 must be finite or None, got {self.threshold_mgha_cm3!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the settings."""
        return asdict(self)


@dataclass(frozen=True)
class Segmentation:
    """A bone mask and the settings that produced it.

    Attributes
    ----------
    bone : (nz, ny, nx) ndarray of bool
        The segmented bone.
    threshold : float
        The threshold applied, in the volume's units (mgHA/cm³ when calibrated).
    method : {"fixed", "otsu"}
        Where the threshold came from.
    parameters : SegmentationParameters
        The filter settings (and the fixed threshold, if one was given).
    """

    bone: np.ndarray
    threshold: float
    method: str
    parameters: SegmentationParameters

    def to_dict(self) -> dict[str, Any]:
        """Settings and threshold for storage (without the mask)."""
        return {"threshold": self.threshold, "method": self.method, **self.parameters.to_dict()}


@dataclass(frozen=True)
class Compartments:
    """Cortical and trabecular compartments of a bone (masks on the volume grid).

    Attributes
    ----------
    envelope : ndarray of bool
        Inside the periosteal surface (Tt).
    cortical : ndarray of bool
        The cortical compartment (envelope minus medulla); ``cortical & bone`` is
        the cortical bone.
    trabecular : ndarray of bool
        The medullary compartment, the trabecular VOI (its TV).
    parameters : dict
        ``close_radius_vox``; ``cortical_thickness_vox``, the measured thickness
        ``T`` (voxels, 0 without a cortex); ``marrow_close_radius_vox``, the radius
        of the marrow closing used (0 without a cortex).
    """

    envelope: np.ndarray
    cortical: np.ndarray
    trabecular: np.ndarray
    parameters: dict[str, float]


def segment_bone(
    volume: np.ndarray,
    parameters: SegmentationParameters | None = None,
    *,
    region: np.ndarray | None = None,
) -> Segmentation:
    """Gaussian filter and global threshold.

    Parameters
    ----------
    volume : (nz, ny, nx) ndarray
        Grey values: mgHA/cm³ when ``parameters.threshold_mgha_cm3`` is set, any
        units for Otsu.
    parameters : SegmentationParameters, optional
        Filter and threshold settings.
    region : (nz, ny, nx) ndarray of bool, optional
        Otsu's histogram is taken over this region only (e.g. the bone's
        surroundings without the air outside the animal); bone is only found inside it.

    Returns
    -------
    Segmentation
        The mask, the threshold applied and how it was chosen.

    Raises
    ------
    ValueError
        If the volume is not 3-D or not finite, the region's shape differs, or the
        (region's) grey values are constant so Otsu has nothing to split.

    Examples
    --------
    >>> import numpy as np
    >>> rho = np.zeros((8, 8, 8)); rho[2:6] = 1200.0
    >>> seg = segment_bone(rho, SegmentationParameters(sigma_vox=0, threshold_mgha_cm3=600))
    >>> int(seg.bone.sum()), seg.method
    (256, 'fixed')
    """
    params = parameters or SegmentationParameters()
    grey = np.asarray(volume)
    if grey.ndim != 3:
        raise ValueError(f"volume must be a 3-D array [z, y, x], got shape {grey.shape}")
    if grey.dtype.kind not in "iuf":
        raise ValueError(f"volume must hold grey values (numeric dtype), got {grey.dtype}")
    if grey.dtype.kind == "f" and not np.isfinite(grey).all():
        raise ValueError("volume must be finite (no NaN or inf)")
    inside = None
    if region is not None:
        inside = np.asarray(region, dtype=bool)
        if inside.shape != grey.shape:
            raise ValueError(f"region must have the volume's shape {grey.shape}")
    smooth = grey.astype(np.float32, copy=False)
    if params.sigma_vox > 0:
        smooth = ndimage.gaussian_filter(
            smooth, params.sigma_vox, truncate=params.truncate, mode="nearest"
        )
    if params.threshold_mgha_cm3 is not None:
        threshold, method = float(params.threshold_mgha_cm3), "fixed"
    else:
        values = smooth if inside is None else smooth[inside]
        if values.size == 0 or float(values.min()) == float(values.max()):
            raise ValueError("volume is constant (within region): Otsu has no threshold to find")
        threshold, method = float(threshold_otsu(values)), "otsu"
    bone = smooth > threshold
    if inside is not None:
        bone &= inside
    return Segmentation(bone=bone, threshold=threshold, method=method, parameters=params)


def separate_compartments(
    bone: np.ndarray,
    *,
    close_radius_vox: int = 3,
    marrow_close_radius_vox: int | None = None,
) -> Compartments:
    """Split a bone into its cortical and trabecular (medullary) compartments.

    See the module notes for the method.

    Parameters
    ----------
    bone : (nz, ny, nx) ndarray of bool
        Segmented bone, shaft along z, isotropic voxels. The first and last planes
        are cuts: the bone continues beyond them.
    close_radius_vox : int
        Disk radius (voxels) closing pores and gaps of the periosteal surface.
    marrow_close_radius_vox : int, optional
        Disk radius (voxels) of the marrow closing: bone structures inside the
        envelope thinner than about twice this radius, with marrow on both sides,
        are trabecular. None: ``max(2, ceil(SCALE · T))`` from the measured
        cortical thickness ``T``.

    Returns
    -------
    Compartments
        Envelope, cortical and trabecular compartment masks (the trabecular one
        empty where no cortex encloses the marrow).

    Raises
    ------
    ValueError
        If ``bone`` is not 3-D or a radius is not a positive integer.
    """
    bone = np.asarray(bone, dtype=bool)
    if bone.ndim != 3:
        raise ValueError(f"bone must be a 3-D array [z, y, x], got shape {bone.shape}")
    for name, value in (
        ("close_radius_vox", close_radius_vox),
        ("marrow_close_radius_vox", marrow_close_radius_vox),
    ):
        if value is None and name == "marrow_close_radius_vox":
            continue
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    envelope = _largest_component(_periosteal_envelope(bone, int(close_radius_vox)))
    medulla = np.zeros_like(bone)
    thickness, radius = 0.0, 0
    planes = np.flatnonzero(envelope.any(axis=(1, 2)))
    if planes.size:
        # The planes outside the bone (e.g. beyond a slab) are cuts, not surfaces.
        held = slice(int(planes[0]), int(planes[-1]) + 1)
        thickness, radius = _medulla(
            bone[held],
            envelope[held],
            int(close_radius_vox),
            marrow_close_radius_vox,
            medulla[held],
        )
    return Compartments(
        envelope=envelope,
        cortical=envelope & ~medulla,
        trabecular=medulla,
        parameters={
            "close_radius_vox": int(close_radius_vox),
            "cortical_thickness_vox": round(float(thickness), 3),
            "marrow_close_radius_vox": radius,
        },
    )


def _medulla(
    bone: np.ndarray,
    envelope: np.ndarray,
    close_radius: int,
    marrow_close_radius: int | None,
    out: np.ndarray,
) -> tuple[float, int]:
    """Write the medullary compartment into ``out``; return ``T`` and the radius used."""
    depth = _depth(envelope)
    thickness = _cortical_thickness(bone, envelope, depth)
    if thickness <= 0.0:
        return 0.0, 0
    radius = (
        int(marrow_close_radius)
        if marrow_close_radius is not None
        else max(2, int(np.ceil(SCALE * thickness)))
    )
    # The outer half of the cortex stays cortical: the closing cannot leak through
    # a gap of a thin, noisy cortex to the periosteal surface.
    inner = envelope & (depth >= 0.5 * thickness)
    cavity = _largest_component(_close_planes(envelope & ~bone, radius) & inner)
    close_disk = _disk(close_radius)
    for k in range(bone.shape[0]):
        if cavity[k].any():
            out[k] = _enclosed_cavity(bone[k], envelope[k], cavity[k], close_disk)
    if out.any():
        fused = _fused_to_endosteum(envelope, out, depth, thickness)
        for k in np.flatnonzero(fused.any(axis=(1, 2))):
            out[k] = ndimage.binary_fill_holes(out[k] | fused[k]) & envelope[k]
    return thickness, radius


def _fused_to_endosteum(
    envelope: np.ndarray, medulla: np.ndarray, depth: np.ndarray, thickness: float
) -> np.ndarray:
    """Voxels of the cortical ring deeper than the local cortex: trabeculae fused to it.

    The local cortical thickness ``T_loc`` is the lower quartile of the depth of the
    endosteal surface (ring voxels beside the medulla) in cells of
    :data:`SECTORS` sectors around each plane's medullary centroid by ``ceil(T)``
    planes, then the median over ±:data:`WINDOW_SECTORS` sectors and
    ±:data:`WINDOW_BLOCKS` blocks of cells: a cortex whose thickness varies
    smoothly keeps its own, while a trabecular plate lying on the endosteal surface
    over a smaller stretch than the window does not raise it. Ring voxels deeper
    than ``T_loc + max(1, FUSED_MARGIN · T_loc)`` and connected to the medulla are
    returned.
    """
    ring = envelope & ~medulla
    in_plane = np.zeros((3, 3, 3), bool)
    in_plane[1] = ndimage.generate_binary_structure(2, 1)
    edge = ring & ndimage.binary_dilation(medulla, in_plane)
    z, y, x = np.nonzero(ring)
    if z.size == 0:
        return np.zeros_like(ring)
    # Sector of each ring voxel around its plane's medullary centroid.
    area = np.maximum(medulla.sum(axis=(1, 2)), 1)
    rows = np.arange(medulla.shape[1], dtype=np.float64)
    cols = np.arange(medulla.shape[2], dtype=np.float64)
    cy = (medulla.sum(axis=2) @ rows) / area
    cx = (medulla.sum(axis=1) @ cols) / area
    angle = np.arctan2(y - cy[z], x - cx[z])
    sector = ((angle + np.pi) * (SECTORS / (2 * np.pi))).astype(np.int64) % SECTORS
    planes_per_block = max(1, int(np.ceil(thickness)))
    block = z // planes_per_block
    n_blocks = int(block.max()) + 1
    cell = block * SECTORS + sector
    on_edge = edge[z, y, x]
    quartile = _cell_quantile(cell[on_edge], depth[z, y, x][on_edge], n_blocks * SECTORS, 0.25)
    local = _windowed_median(quartile.reshape(n_blocks, SECTORS)).ravel()[cell]
    deeper = depth[z, y, x] > local + np.maximum(1.0, FUSED_MARGIN * local)  # NaN: no verdict
    deeper &= medulla.any(axis=(1, 2))[z]  # planes without a medulla have no sectors
    candidates = np.zeros_like(ring)
    candidates[z[deeper], y[deeper], x[deeper]] = True
    labels, _ = ndimage.label(candidates | medulla)
    touching = np.unique(labels[medulla])
    return np.isin(labels, touching[touching > 0]) & candidates


def _cell_quantile(cells: np.ndarray, values: np.ndarray, n_cells: int, q: float) -> np.ndarray:
    """The ``q`` quantile (lower value) of ``values`` per cell; NaN for empty cells."""
    out = np.full(n_cells, np.nan)
    if cells.size == 0:
        return out
    order = np.lexsort((values, cells))
    cells, values = cells[order], values[order]
    starts = np.searchsorted(cells, np.arange(n_cells))
    counts = np.bincount(cells, minlength=n_cells)
    held = counts > 0
    picks = starts[held] + np.floor(q * (counts[held] - 1)).astype(np.int64)
    out[held] = values[picks]
    return out


def _windowed_median(table: np.ndarray) -> np.ndarray:
    """NaN-aware median over ±WINDOW_BLOCKS rows and ±WINDOW_SECTORS (circular) columns."""
    n_blocks = table.shape[0]
    padded = np.pad(table, ((WINDOW_BLOCKS, WINDOW_BLOCKS), (0, 0)), constant_values=np.nan)
    shifted = [
        np.roll(padded[WINDOW_BLOCKS + db : WINDOW_BLOCKS + db + n_blocks], ds, axis=1)
        for db in range(-WINDOW_BLOCKS, WINDOW_BLOCKS + 1)
        for ds in range(-WINDOW_SECTORS, WINDOW_SECTORS + 1)
    ]
    stack = np.stack(shifted)
    out = np.full(table.shape, np.nan)
    seen = np.isfinite(stack).any(axis=0)
    out[seen] = np.nanmedian(stack[:, seen], axis=0)
    return out


def _periosteal_envelope(bone: np.ndarray, close_radius: int) -> np.ndarray:
    """Each plane's bone closed with a disk and its holes filled."""
    disk = _disk(close_radius)
    envelope = np.zeros_like(bone)
    for k in range(bone.shape[0]):
        if bone[k].any():
            envelope[k] = ndimage.binary_fill_holes(_closed(bone[k], disk))
    return envelope


def _closed(plane: np.ndarray, disk: np.ndarray) -> np.ndarray:
    """Binary closing of one plane with ``disk``, the plane padded with background so
    that structures at the array border are closed, not eroded, there."""
    pad = disk.shape[0] // 2 + 1
    return ndimage.binary_closing(np.pad(plane, pad), disk)[pad:-pad, pad:-pad]


def _largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest face-connected component of a 3-D mask (empty stays empty)."""
    labels, count = ndimage.label(mask)
    if count <= 1:
        return mask.copy() if count else np.zeros_like(mask)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return labels == int(np.argmax(sizes))


def _cortical_thickness(bone: np.ndarray, envelope: np.ndarray, depth: np.ndarray) -> float:
    """Depth (voxels) where the envelope's bone fraction first falls below 1/2.

    The depth of a voxel is its distance to the envelope's outside less half a voxel
    (the surface lies half a voxel beyond the last voxel centre); the fraction is taken
    in one-voxel depth bins and the crossing interpolated between bin centres. 0 when
    the outermost bin is already below 1/2 (no compact cortex).
    """
    bins = np.floor(depth[envelope]).astype(np.int64)
    total = np.bincount(bins)
    solid = np.bincount(bins, weights=bone[envelope].astype(np.float64), minlength=total.size)
    fraction = solid / np.maximum(total, 1)
    below = np.flatnonzero((fraction < 0.5) & (total > 0))
    if below.size == 0:
        return float(total.size)
    k = int(below[0])
    if k == 0:
        return 0.0
    upper, lower = fraction[k - 1], fraction[k]
    return k - 0.5 + (upper - 0.5) / (upper - lower)


def _depth(envelope: np.ndarray) -> np.ndarray:
    """Distance (voxels) from each envelope voxel to the periosteal surface, 3-D.

    The array border is a cut, not a surface: an envelope cut by the field of view
    continues beyond it.
    """
    return np.sqrt(squared_edt(envelope).astype(np.float32)) - np.float32(0.5)


def _close_planes(mask: np.ndarray, radius: int) -> np.ndarray:
    """Closing of each plane with a disk of ``radius`` pixels, by distance transforms.

    The array border is not a boundary (the mask continues beyond it), so nothing
    is eroded from the border.
    """
    out = np.zeros_like(mask)
    r2 = radius * radius
    for k in np.flatnonzero(mask.any(axis=(1, 2))):
        dilated = squared_edt(~mask[k : k + 1]) <= r2
        out[k] = (squared_edt(dilated) > r2)[0]
    return out


def _enclosed_cavity(
    bone: np.ndarray, envelope: np.ndarray, cavity: np.ndarray, close_disk: np.ndarray
) -> np.ndarray:
    """One plane's medulla: the holes of the cortical ring that hold cavity.

    The ring must enclose them with bone: its bone, with gaps up to the periosteal
    closing's size bridged, must surround them (a cut through a core of trabeculae
    has a ring of envelope but no wall of bone around it).
    """
    rest = envelope & ~cavity
    labels, count = ndimage.label(rest, structure=np.ones((3, 3), bool))
    if count == 0:
        return np.zeros_like(envelope)
    outline = envelope & ~ndimage.binary_erosion(envelope, border_value=0)
    on_outline = np.unique(labels[outline & rest])
    ring = np.isin(labels, on_outline[on_outline > 0])
    holes, n_holes = ndimage.label(ndimage.binary_fill_holes(ring) & ~ring)
    if n_holes == 0:
        return np.zeros_like(envelope)
    with_cavity = np.unique(holes[cavity])
    medulla = np.isin(holes, with_cavity[with_cavity > 0])
    return medulla & ndimage.binary_fill_holes(_closed(ring & bone, close_disk))


def slab_region(shape: tuple[int, int, int], start: int, stop: int) -> np.ndarray:
    """A region of whole z-planes ``start <= z < stop`` (a slab along the shaft).

    Parameters
    ----------
    shape : tuple of 3 int
        Volume shape ``(nz, ny, nx)``.
    start, stop : int
        First plane and one past the last (0 <= start < stop <= nz).

    Returns
    -------
    (nz, ny, nx) ndarray of bool

    Raises
    ------
    ValueError
        If the range is empty or outside the volume.
    """
    nz = int(shape[0])
    if not 0 <= start < stop <= nz:
        raise ValueError(f"start, stop must satisfy 0 <= start < stop <= {nz}, got {start}, {stop}")
    region = np.zeros(tuple(int(n) for n in shape), dtype=bool)
    region[start:stop] = True
    return region


def combine_regions(*regions: np.ndarray) -> np.ndarray:
    """The intersection of regions (e.g. a slab, a compartment and a drawn mask).

    Parameters
    ----------
    *regions : ndarray of bool
        Masks of the same shape; at least one.

    Returns
    -------
    ndarray of bool

    Raises
    ------
    ValueError
        If no region is given or their shapes differ.
    """
    if not regions:
        raise ValueError("regions: give at least one mask")
    out = np.asarray(regions[0], dtype=bool).copy()
    for n, region in enumerate(regions[1:], start=1):
        region = np.asarray(region, dtype=bool)
        if region.shape != out.shape:
            raise ValueError(f"regions[{n}] has shape {region.shape}, expected {out.shape}")
        out &= region
    return out


def _disk(radius: int) -> np.ndarray:
    r = np.arange(-radius, radius + 1)
    return r[:, None] ** 2 + r[None, :] ** 2 <= radius * radius
