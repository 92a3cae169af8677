"""Bone surface meshes of a volume and their off-screen renders (numpy, scikit-image, pyvista).

The surface
-----------
1. A coarse pyramid level is segmented with one global threshold (Gaussian filter, then
   Otsu's threshold or a given one: :func:`analysis.segmentation.segment_bone`).
2. The binary bone is padded with one empty voxel (so the mesh is closed where the bone
   is cut by the volume border, as a 3-D printer needs), smoothed with a small Gaussian
   (which takes the voxel staircase off curved surfaces) and meshed at its 0.5
   iso-surface by marching cubes (Lorensen & Cline 1987, scikit-image).
3. The mesh is decimated by quadric edge collapse (Garland & Heckbert 1997, VTK),
   which keeps the shape and the area while removing most triangles.

Vertices are in micrometres in the volume's frame (``docs/conventions.md``): voxel
``(k, j, i)`` lies at ``x = (i − (nx − 1)/2)·voxel``, ``y = …``, ``z = …``, so the
surfaces of two time points of one site overlay where their grids do.

Remodelling colours
-------------------
Where a remodelling label volume exists (``labels/remodelling``, codes in
:mod:`analysis.remodelling.labels`), each vertex takes the class of the nearest labelled
voxel (a Euclidean distance transform with indices), kept as the point array
``"remodelling"`` and as RGB colours ``"colors"`` (the viewer's class colours).

Renders are made off-screen (VTK's EGL window on a machine without a display; Mesa's
software renderer where there is no GPU) from a fixed oblique view whose distance is
set by the volume's box, not by the mesh, so the time points of one site are drawn at
the same scale side by side.

References
----------
.. [1] Lorensen WE, Cline HE. Marching cubes: a high resolution 3D surface construction
   algorithm. Computer Graphics 1987;21:163-169.
.. [2] Garland M, Heckbert PS. Surface simplification using quadric error metrics.
   SIGGRAPH 1997:209-216.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure

from analysis.remodelling.labels import FORMED, QUIESCENT, RESORBED
from analysis.segmentation import SegmentationParameters, segment_bone

__all__ = [
    "BONE_COLOUR",
    "CLASS_COLOURS",
    "MESH_FORMATS",
    "BoneSurface",
    "NoSurface",
    "Panel",
    "bone_surface",
    "box_um",
    "choose_level",
    "encode_mesh",
    "mesh_area_um2",
    "read_mesh",
    "render_png",
    "render_strip",
]

#: Colour of bone where no remodelling labels exist (RGB, 0–255).
BONE_COLOUR = (232, 220, 192)
#: The viewer's colours of the remodelling classes (RGB, 0–255).
CLASS_COLOURS = {
    QUIESCENT: (0xD9, 0xD9, 0xD9),
    FORMED: (0xFF, 0x9F, 0x1C),
    RESORBED: (0xA8, 0x55, 0xF7),
}
#: Download formats: name → media type.
MESH_FORMATS = {
    "stl": "model/stl",
    "ply": "application/octet-stream",
    "vtp": "application/xml",
}
_BACKGROUND = (0.13, 0.15, 0.18)
#: A view from the front-right, slightly above (z up: the shaft of a long bone).
_VIEW_DIRECTION = np.array([1.0, -1.4, 0.8])


class NoSurface(ValueError):
    """The volume holds no bone surface at the threshold (empty or all bone)."""


@dataclass(frozen=True)
class BoneSurface:
    """A decimated bone surface and how it was made.

    Attributes
    ----------
    mesh : pyvista.PolyData
        Triangles, vertices in µm; point arrays ``"Normals"``, and with labels
        ``"remodelling"`` (uint8 class) and ``"colors"`` (uint8 RGB).
    threshold : float
        Segmentation threshold, in the volume's units.
    method : {"fixed", "otsu"}
        Where the threshold came from.
    voxel_size_um : float
        Voxel size of the meshed array (µm).
    box_um : tuple of float
        ``(xmin, xmax, ymin, ymax, zmin, zmax)`` of the volume's box (µm): the camera
        is fitted to it.
    """

    mesh: object
    threshold: float
    method: str
    voxel_size_um: float
    box_um: tuple[float, float, float, float, float, float]

    @property
    def has_classes(self) -> bool:
        """True when the vertices carry remodelling classes."""
        return "remodelling" in self.mesh.point_data


def choose_level(shapes: Sequence[Sequence[int]], max_side: int) -> int:
    """The first (finest) pyramid level whose largest side is at most ``max_side``.

    Parameters
    ----------
    shapes : sequence of (nz, ny, nx)
        Shape of each level, finest first.
    max_side : int
        Largest side (voxels) to mesh; the coarsest level is taken when none fits.

    Returns
    -------
    int
        Index into ``shapes``.
    """
    if not shapes:
        raise ValueError("shapes: expected at least one level")
    if max_side < 2:
        raise ValueError(f"max_side: expected at least 2 voxels, got {max_side}")
    for level, shape in enumerate(shapes):
        if max(shape) <= max_side:
            return level
    return len(shapes) - 1


def box_um(shape: Sequence[int], voxel_um: float) -> tuple[float, ...]:
    """``(xmin, xmax, ymin, ymax, zmin, zmax)`` of the voxel centres of a grid (µm)."""
    nz, ny, nx = shape
    hx, hy, hz = (nx - 1) / 2 * voxel_um, (ny - 1) / 2 * voxel_um, (nz - 1) / 2 * voxel_um
    return (-hx, hx, -hy, hy, -hz, hz)


def bone_surface(
    volume: np.ndarray,
    voxel_size_um: float,
    *,
    threshold: float | None = None,
    sigma_vox: float = 1.0,
    mesh_sigma_vox: float = 0.8,
    target_reduction: float = 0.6,
    labels: np.ndarray | None = None,
) -> BoneSurface:
    """Mesh the bone of ``volume`` and colour it by remodelling class where labels exist.

    Parameters
    ----------
    volume : (nz, ny, nx) ndarray
        Grey values of one (usually downsampled) pyramid level, any units.
    voxel_size_um : float
        Voxel size of ``volume`` (µm), > 0.
    threshold : float, optional
        Bone threshold in the volume's units; None takes Otsu's threshold of the
        filtered grey values.
    sigma_vox : float
        Gaussian filter of the grey values before the threshold (voxels, ≥ 0).
    mesh_sigma_vox : float
        Gaussian smoothing of the binary bone before marching cubes (voxels, ≥ 0).
    target_reduction : float
        Fraction of triangles the decimation removes, in ``[0, 1)``.
    labels : (nz, ny, nx) ndarray of uint8, optional
        Remodelling classes on the same grid (0 background, 1 quiescent, 2 formed,
        3 resorbed).

    Returns
    -------
    BoneSurface

    Raises
    ------
    ValueError
        Bad shapes or parameters (naming the argument).
    NoSurface
        No voxel, or every voxel, is bone at the threshold.
    """
    volume = np.asarray(volume)
    if volume.ndim != 3 or min(volume.shape) < 2:
        raise ValueError(f"volume: expected a 3-D array of at least 2³, got {volume.shape}")
    if not (np.isfinite(voxel_size_um) and voxel_size_um > 0):
        raise ValueError(f"voxel_size_um: must be positive, got {voxel_size_um!r}")
    if not mesh_sigma_vox >= 0:
        raise ValueError(f"mesh_sigma_vox: must be >= 0, got {mesh_sigma_vox!r}")
    if not 0 <= target_reduction < 1:
        raise ValueError(f"target_reduction: must be in [0, 1), got {target_reduction!r}")
    if labels is not None:
        labels = np.asarray(labels)
        if labels.shape != volume.shape:
            raise ValueError(f"labels: shape {labels.shape} differs from the volume's")
    try:
        seg = segment_bone(volume, SegmentationParameters(sigma_vox, 3.0, threshold))
    except ValueError as exc:
        raise NoSurface(f"volume: {exc}") from exc
    if not seg.bone.any() or seg.bone.all():
        raise NoSurface(f"volume: no bone surface at the threshold {seg.threshold:.4g}")
    indicator = np.pad(seg.bone.astype(np.float32), 1)
    if mesh_sigma_vox > 0:
        indicator = ndimage.gaussian_filter(indicator, mesh_sigma_vox, mode="constant")
    verts, faces, _, _ = measure.marching_cubes(indicator, 0.5, allow_degenerate=False)
    centre = (np.array(volume.shape) - 1) / 2 + 1  # +1: the padding
    xyz = ((verts - centre) * voxel_size_um)[:, ::-1]  # (z, y, x) → (x, y, z)
    mesh = _polydata(xyz, faces)
    if target_reduction > 0 and mesh.n_cells > 64:
        mesh = mesh.decimate(target_reduction, volume_preservation=True)
    mesh = mesh.compute_normals(
        auto_orient_normals=False, consistent_normals=True, split_vertices=False
    )
    if labels is not None:
        _paint_classes(mesh, labels, volume.shape, voxel_size_um)
    return BoneSurface(
        mesh=mesh,
        threshold=seg.threshold,
        method=seg.method,
        voxel_size_um=float(voxel_size_um),
        box_um=box_um(volume.shape, float(voxel_size_um)),
    )


def _polydata(points: np.ndarray, triangles: np.ndarray):
    import pyvista as pv

    cells = np.hstack([np.full((len(triangles), 1), 3, dtype=np.int64), triangles]).ravel()
    return pv.PolyData(points.astype(np.float64), cells)


def _paint_classes(mesh, labels: np.ndarray, shape, voxel_um: float) -> None:
    """Give every vertex the class of the nearest labelled voxel (point arrays)."""
    labelled = labels > 0
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[:] = BONE_COLOUR
    for code, rgb in CLASS_COLOURS.items():
        palette[code] = rgb
    points = np.asarray(mesh.points)
    centre = (np.array(shape) - 1) / 2
    index = np.rint(points[:, ::-1] / voxel_um + centre).astype(np.int64)
    index = np.clip(index, 0, np.array(shape) - 1)
    if labelled.any():
        _, nearest = ndimage.distance_transform_edt(~labelled, return_indices=True)
        k, j, i = (nearest[axis][tuple(index.T)] for axis in range(3))
        classes = labels[k, j, i].astype(np.uint8)
    else:
        classes = np.zeros(len(points), dtype=np.uint8)
    mesh.point_data["remodelling"] = classes
    mesh.point_data["colors"] = palette[classes]


def mesh_area_um2(mesh) -> float:
    """Total area of a triangle mesh (µm² for meshes from :func:`bone_surface`)."""
    points = np.asarray(mesh.points, dtype=np.float64)
    tri = _triangles(mesh)
    if tri.size == 0:
        return 0.0
    a, b, c = points[tri[:, 0]], points[tri[:, 1]], points[tri[:, 2]]
    return float(0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1).sum())


def _triangles(mesh) -> np.ndarray:
    faces = np.asarray(mesh.faces)
    if faces.size == 0:
        return np.empty((0, 3), dtype=np.int64)
    if not (faces.reshape(-1, 4)[:, 0] == 3).all():
        mesh = mesh.triangulate()
        faces = np.asarray(mesh.faces)
    return faces.reshape(-1, 4)[:, 1:]


# -- files ---------------------------------------------------------------------------


def encode_mesh(mesh, fmt: str) -> bytes:
    """The mesh as the bytes of a file.

    Parameters
    ----------
    mesh : pyvista.PolyData
    fmt : {"stl", "ply", "vtp"}
        Binary STL (geometry only, for printing), binary PLY (with per-vertex RGB
        colours when the mesh has them), or VTK XML PolyData (every point array kept;
        for ParaView or finite-element preprocessing).

    Returns
    -------
    bytes
    """
    import tempfile

    if fmt not in MESH_FORMATS:
        raise ValueError(f"fmt: expected one of {sorted(MESH_FORMATS)}, got {fmt!r}")
    options = {"binary": True}
    if fmt == "ply" and "colors" in mesh.point_data:
        options["texture"] = "colors"
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"mesh.{fmt}")
        mesh.save(path, **options)
        with open(path, "rb") as handle:
            return handle.read()


def read_mesh(data: bytes, fmt: str):
    """Parse bytes written by :func:`encode_mesh` back into a ``pyvista.PolyData``."""
    import tempfile

    import pyvista as pv

    if fmt not in MESH_FORMATS:
        raise ValueError(f"fmt: expected one of {sorted(MESH_FORMATS)}, got {fmt!r}")
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, f"mesh.{fmt}")
        with open(path, "wb") as handle:
            handle.write(data)
        return pv.read(path)


# -- renders -------------------------------------------------------------------------


@dataclass(frozen=True)
class Panel:
    """One picture of a strip: a surface (or None where there is none) and its caption."""

    surface: BoneSurface | None
    caption: str


def _plotter(shape: tuple[int, int], window: tuple[int, int]):
    if not os.environ.get("DISPLAY"):
        # No X server: go straight to EGL rather than fail over from X with a warning.
        os.environ.setdefault("VTK_DEFAULT_OPENGL_WINDOW", "vtkEGLRenderWindow")
    import pyvista as pv

    plotter = pv.Plotter(off_screen=True, shape=shape, window_size=window, border=False)
    plotter.set_background(_BACKGROUND)
    return plotter


def _draw(plotter, surface: BoneSurface | None, box: Sequence[float], caption: str) -> None:
    if surface is not None:
        options = {"smooth_shading": True, "specular": 0.25, "ambient": 0.15}
        if surface.has_classes:
            plotter.add_mesh(surface.mesh, scalars="colors", rgb=True, **options)
        else:
            plotter.add_mesh(surface.mesh, color=BONE_COLOUR, **options)
    if caption:
        plotter.add_text(caption, position="upper_left", font_size=10, color="white")
    xmin, xmax, ymin, ymax, zmin, zmax = box
    focal = np.array([(xmin + xmax) / 2, (ymin + ymax) / 2, (zmin + zmax) / 2])
    radius = 0.5 * float(np.linalg.norm([xmax - xmin, ymax - ymin, zmax - zmin])) or 1.0
    direction = _VIEW_DIRECTION / np.linalg.norm(_VIEW_DIRECTION)
    plotter.camera_position = [tuple(focal + 3.2 * radius * direction), tuple(focal), (0, 0, 1)]
    plotter.camera.view_angle = 30.0
    plotter.reset_camera_clipping_range()


def _png(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def render_png(
    surface: BoneSurface, *, size: tuple[int, int] = (480, 360), caption: str = ""
) -> bytes:
    """An off-screen picture of one surface, as PNG bytes.

    Parameters
    ----------
    surface : BoneSurface
    size : (width, height)
        Pixels.
    caption : str
        Text in the upper-left corner.

    Returns
    -------
    bytes
        An RGB PNG.
    """
    return render_strip([Panel(surface, caption)], tile=size)


def render_strip(panels: Sequence[Panel], *, tile: tuple[int, int] = (300, 300)) -> bytes:
    """Time points side by side, drawn from the same view at the same scale (PNG bytes).

    Parameters
    ----------
    panels : sequence of Panel
        Left to right; a panel without a surface is drawn empty with its caption.
    tile : (width, height)
        Pixels of each panel.

    Returns
    -------
    bytes
        An RGB PNG of ``len(panels) × width`` by ``height`` pixels.

    Notes
    -----
    Every panel's camera is fitted to the union of the panels' volume boxes, so a bone
    that grew or shrank shows it.
    """
    if not panels:
        raise ValueError("panels: expected at least one")
    width, height = (int(v) for v in tile)
    if width < 16 or height < 16:
        raise ValueError(f"tile: expected at least 16×16 pixels, got {tile!r}")
    boxes = np.array([p.surface.box_um for p in panels if p.surface is not None])
    if len(boxes):
        box = (*_span(boxes, 0), *_span(boxes, 2), *_span(boxes, 4))
    else:
        box = (-1.0, 1.0, -1.0, 1.0, -1.0, 1.0)
    plotter = _plotter((1, len(panels)), (width * len(panels), height))
    try:
        for column, panel in enumerate(panels):
            plotter.subplot(0, column)
            _draw(plotter, panel.surface, box, panel.caption)
        image = plotter.screenshot(None, return_img=True)
    finally:
        plotter.close()
    return _png(image)


def _span(boxes: np.ndarray, column: int) -> tuple[float, float]:
    return float(boxes[:, column].min()), float(boxes[:, column + 1].max())
