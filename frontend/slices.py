"""The viewer's data endpoints: metadata, slices, tiles, label slices, the preview volume.

Same authorisation as the API (token or session; another study's volume answers 404,
anonymous 401).  Volume files never change, so every answer carries a strong ETag made
of the file's sha256 and the request's parameters, ``Cache-Control: private,
max-age=31536000, immutable``, and a repeated request with ``If-None-Match`` answers
304 before the file is touched.

Raw answers are little-endian bytes, row-major, with headers:

``X-Shape``       ``rows,cols`` (``nz,ny,nx`` for the preview volume)
``X-Dtype``       ``float32``, ``uint16`` or ``uint8``
``X-Scale``, ``X-Offset``  stored value = q · scale + offset
``X-Level``       pyramid level; ``X-Voxel-Size-Um`` its voxel size (µm)
``X-Origin``      ``r0,c0`` of a tile in its level's slice
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import asdict
from functools import lru_cache

import numpy as np
from django.http import HttpResponse, HttpResponseNotModified
from django.shortcuts import get_object_or_404
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from analysis.remodelling.labels import LABEL_NAMES as REMODELLING_NAMES
from recon.models import Volume
from recon.volume_store import level_histogram, open_volumes, read_metadata, read_region
from studies.datafiles import absolute

from .slice_codec import RAW_FORMATS, encode_png_gray, to_raw_bytes, window_to_uint8

AXES = {"z": 0, "y": 1, "x": 2}
IMMUTABLE = "private, max-age=31536000, immutable"
HISTOGRAM_MAX_SIDE = 128
PREVIEW_MAX_SIDE = 256
REMODELLING_LABEL = "remodelling"


class BadParameter(ValueError):
    """A query parameter is missing or out of range (answers 400)."""


# -- access and caching --------------------------------------------------------------


def visible_volume(request, volume_id: int) -> Volume:
    """The volume if the user may read it: another study's (or none) → 404.

    Reading needs the viewer role, the weakest there is: every member and every
    superuser that ``visible_to`` lets through holds it, so the role check of
    ``studies.permissions`` can never refuse here and costs no second query.
    """
    return get_object_or_404(
        Volume.objects.visible_to(request.user).select_related("session__animal__study"),
        pk=volume_id,
    )


def _etag(volume: Volume, kind: str, params: dict) -> str:
    canonical = "&".join(f"{k}={params[k]}" for k in sorted(params))
    digest = hashlib.sha256(f"{volume.sha256}|{kind}|{canonical}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def _matches(request, etag: str) -> bool:
    header = request.headers.get("If-None-Match", "")
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return etag in tags or "*" in tags


def _cached(request, volume: Volume, kind: str, params: dict, produce) -> HttpResponse:
    """304 when the client holds this answer, else ``produce()`` with caching headers."""
    etag = _etag(volume, kind, params)
    if _matches(request, etag):
        response = HttpResponseNotModified()
    else:
        try:
            response = produce()
        except ValueError as exc:
            return Response({"detail": str(exc)}, status=400)
    response["ETag"] = etag
    response["Cache-Control"] = IMMUTABLE
    return response


def _raw(body: bytes, shape, dtype: str, scale: float, offset: float, **extra) -> HttpResponse:
    response = HttpResponse(body, content_type="application/octet-stream")
    response["X-Shape"] = ",".join(str(int(s)) for s in shape)
    response["X-Dtype"] = dtype
    response["X-Scale"] = repr(float(scale))
    response["X-Offset"] = repr(float(offset))
    for name, value in extra.items():
        response[f"X-{name.replace('_', '-').title()}"] = str(value)
    return response


# -- parameters ---------------------------------------------------------------------


def _int(request, name: str, default: int | None = None) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        if default is None:
            raise BadParameter(f"{name}: required")
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadParameter(f"{name}: expected an integer, got {raw!r}") from None


def _float(request, name: str) -> float | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise BadParameter(f"{name}: expected a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise BadParameter(f"{name}: expected a finite number, got {raw!r}")
    return value


def _axis(request) -> int:
    raw = request.query_params.get("axis", "")
    if raw not in AXES:
        raise BadParameter(f"axis: expected one of z, y, x, got {raw!r}")
    return AXES[raw]


def _choice(request, name: str, choices, default: str) -> str:
    raw = request.query_params.get(name, default)
    if raw not in choices:
        raise BadParameter(f"{name}: expected one of {', '.join(choices)}, got {raw!r}")
    return raw


def _slice_params(request) -> dict:
    params = {
        "axis": _axis(request),
        "index": _int(request, "index"),
        "level": _int(request, "level", 0),
    }
    params["format"] = _choice(request, "fmt", ("png", *RAW_FORMATS), "png")
    if params["format"] == "png":
        params["lo"], params["hi"] = _float(request, "lo"), _float(request, "hi")
    return params


def _rect(request, shape: tuple[int, int]) -> tuple[slice, slice]:
    r0, r1 = _int(request, "r0"), _int(request, "r1")
    c0, c1 = _int(request, "c0"), _int(request, "c1")
    if not (0 <= r0 < r1 <= shape[0] and 0 <= c0 < c1 <= shape[1]):
        raise BadParameter(
            f"r0, r1, c0, c1: [{r0}:{r1}, {c0}:{c1}] is not inside the slice {shape}"
        )
    return slice(r0, r1), slice(c0, c1)


def _bad(exc: Exception) -> Response:
    return Response({"detail": str(exc)}, status=400)


# -- file-derived facts (cached per process by sha256) ------------------------------


def first_level_within(shapes: list, side: int) -> int:
    """The first (finest) pyramid level whose largest side is at most ``side`` (else the last)."""
    return next((k for k, s in enumerate(shapes) if max(s) <= side), len(shapes) - 1)


@lru_cache(maxsize=64)
def _histogram(path: str, sha256: str) -> dict:
    level = first_level_within(read_metadata(path).shapes, HISTOGRAM_MAX_SIDE)
    return level_histogram(path, level)


def _window(path: str, volume: Volume, lo: float | None, hi: float | None) -> tuple[float, float]:
    if lo is not None and hi is not None:
        if not hi > lo:
            raise BadParameter(f"lo, hi: expected lo < hi, got lo={lo}, hi={hi}")
        return lo, hi
    histogram = _histogram(path, volume.sha256)
    lo = histogram["p01"] if lo is None else lo
    hi = histogram["p99"] if hi is None else hi
    # A constant volume (or a one-sided request) gets a window one unit wide.
    return (lo, hi) if hi > lo else (lo, lo + 1.0)


def _plane(shape: tuple[int, int, int], axis: int) -> tuple[int, int]:
    return tuple(s for k, s in enumerate(shape) if k != axis)


def label_classes(name: str, path: str, shapes: list, provenance: dict) -> list[dict]:
    """Classes of a label volume other than 0 (background): ``[{"value", "name"}, …]``.

    The remodelling names; else the names the file's provenance gives
    (``provenance["labels"][name]``, e.g. a segmentation's classes); else the values
    present in a coarse level.
    """
    if name == REMODELLING_LABEL:
        return [{"value": v, "name": n} for v, n in REMODELLING_NAMES.items() if v != 0]
    named = (provenance.get("labels") or {}).get(name)
    if isinstance(named, dict):
        values = sorted((int(v), str(n)) for v, n in named.items() if int(v) != 0)
        return [{"value": v, "name": n} for v, n in values]
    level = first_level_within(shapes, HISTOGRAM_MAX_SIDE)
    present = np.unique(open_volumes.dataset(path, f"labels/{name}", level)[...])
    return [{"value": int(v), "name": f"{name} {int(v)}"} for v in present if v != 0]


# -- endpoints ----------------------------------------------------------------------


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def metadata(request, volume_id: int):
    """Levels, shapes, voxel sizes (µm), units, calibration, labels and a histogram.

    A label-only volume (``grey`` false, e.g. a segmentation) has no histogram (null).
    """
    volume = visible_volume(request, volume_id)
    path = str(absolute(volume.relative_path))

    def produce():
        meta = asdict(read_metadata(path))
        meta["histogram"] = _histogram(path, volume.sha256) if meta["grey"] else None
        meta["labels"] = {
            name: {
                "shapes": shapes,
                "classes": label_classes(name, path, shapes, meta["provenance"]),
            }
            for name, shapes in meta["labels"].items()
        }
        meta["id"] = volume.pk
        meta["sha256"] = volume.sha256
        return Response(meta)

    return _cached(request, volume, "metadata", {}, produce)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def slice_image(request, volume_id: int):
    """One slice: ``?axis=z|y|x&index=&level=&fmt=png|f32|u16|u8[&lo=&hi=]``.

    PNG is 8-bit with the window ``[lo, hi]`` (stored units; default the 0.5–99.5 %
    range of the histogram) applied; the raw formats carry the values.
    """
    volume = visible_volume(request, volume_id)
    path = str(absolute(volume.relative_path))
    try:
        params = _slice_params(request)
        if params["format"] == "png":
            params["lo"], params["hi"] = _window(path, volume, params["lo"], params["hi"])
    except ValueError as exc:
        return _bad(exc)

    def produce():
        values = read_region(path, params["axis"], params["index"], params["level"])
        return _encode(values, params, volume)

    return _cached(request, volume, "slice", params, produce)


def windowed_png(volume: Volume, axis: int, index: int, level: int) -> bytes:
    """The 8-bit PNG of one slice with the default window, as ``slice_image`` answers it.

    Raises
    ------
    OSError
        The volume's file cannot be read.
    ValueError
        Bad axis, index or level.
    """
    path = str(absolute(volume.relative_path))
    lo, hi = _window(path, volume, None, None)
    return encode_png_gray(window_to_uint8(read_region(path, axis, index, level), lo, hi))


def _encode(values, params: dict, volume: Volume, **extra) -> HttpResponse:
    voxel = volume.voxel_size_um * 2 ** params["level"]
    if params["format"] == "png":
        image = window_to_uint8(values, params["lo"], params["hi"])
        response = HttpResponse(encode_png_gray(image), content_type="image/png")
        response["X-Shape"] = f"{values.shape[0]},{values.shape[1]}"
        response["X-Level"] = str(params["level"])
        response["X-Voxel-Size-Um"] = repr(voxel)
        for name, value in extra.items():
            response[f"X-{name.title()}"] = str(value)
        return response
    body, dtype, scale, offset = to_raw_bytes(values, params["format"])
    return _raw(
        body,
        values.shape,
        dtype,
        scale,
        offset,
        level=params["level"],
        voxel_size_um=voxel,
        **extra,
    )


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def tile(request, volume_id: int):
    """A sub-rectangle of a slice: the slice's parameters plus ``r0, r1, c0, c1``."""
    volume = visible_volume(request, volume_id)
    path = str(absolute(volume.relative_path))
    try:
        params = _slice_params(request)
        shape = open_volumes.dataset(path, "volume", params["level"]).shape
        rows, cols = _rect(request, _plane(shape, params["axis"]))
        params.update(r0=rows.start, r1=rows.stop, c0=cols.start, c1=cols.stop)
        if params["format"] == "png":
            params["lo"], params["hi"] = _window(path, volume, params["lo"], params["hi"])
    except ValueError as exc:
        return _bad(exc)

    def produce():
        values = read_region(path, params["axis"], params["index"], params["level"], rows, cols)
        return _encode(values, params, volume, origin=f"{rows.start},{cols.start}")

    return _cached(request, volume, "tile", params, produce)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def label_slice(request, volume_id: int, name: str):
    """One slice of label volume ``name`` as raw uint8: ``?axis=&index=&level=``.

    With ``r0, r1, c0, c1`` it answers that sub-rectangle only (a label tile).
    """
    volume = visible_volume(request, volume_id)
    path = str(absolute(volume.relative_path))
    rows, cols = slice(None), slice(None)
    try:
        params = {
            "axis": _axis(request),
            "index": _int(request, "index"),
            "level": _int(request, "level", 0),
            "name": name,
        }
        if "r0" in request.query_params:
            shape = open_volumes.dataset(path, f"labels/{name}", params["level"]).shape
            rows, cols = _rect(request, _plane(shape, params["axis"]))
            params.update(r0=rows.start, r1=rows.stop, c0=cols.start, c1=cols.stop)
    except ValueError as exc:
        return _bad(exc)

    def produce():
        values = read_region(
            path, params["axis"], params["index"], params["level"], rows, cols, label=name
        )
        voxel = volume.voxel_size_um * 2 ** params["level"]
        extra = {"origin": f"{rows.start},{cols.start}"} if rows.start is not None else {}
        return _raw(
            values.tobytes(),
            values.shape,
            "uint8",
            1.0,
            0.0,
            level=params["level"],
            voxel_size_um=voxel,
            **extra,
        )

    return _cached(request, volume, "label", params, produce)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def preview(request, volume_id: int):
    """The coarsest-but-sufficient level as one 3-D block for a 3-D texture.

    ``?max=128`` picks the first level whose largest side is at most ``max`` (16–256);
    ``fmt=u8|u16|f32`` (u8 default); ``label=<name>`` returns that label volume
    (uint8) at the same level instead.
    """
    volume = visible_volume(request, volume_id)
    path = str(absolute(volume.relative_path))
    try:
        size = _int(request, "max", 128)
        if not 16 <= size <= PREVIEW_MAX_SIDE:
            raise BadParameter(f"max: expected 16…{PREVIEW_MAX_SIDE}, got {size}")
        params = {"max": size, "format": _choice(request, "fmt", RAW_FORMATS, "u8")}
        label = request.query_params.get("label")
        if label is not None:
            if not label or "/" in label:
                raise BadParameter(f"label: invalid name {label!r}")
            params["label"] = label
        level = first_level_within(read_metadata(path).shapes, size)
    except ValueError as exc:
        return _bad(exc)

    def produce():
        group = "volume" if label is None else f"labels/{label}"
        data = open_volumes.dataset(path, group, level)[...]
        voxel = volume.voxel_size_um * 2**level
        if label is not None:
            return _raw(
                data.tobytes(), data.shape, "uint8", 1.0, 0.0, level=level, voxel_size_um=voxel
            )
        body, dtype, scale, offset = to_raw_bytes(data, params["format"])
        return _raw(body, data.shape, dtype, scale, offset, level=level, voxel_size_um=voxel)

    return _cached(request, volume, "preview", params, produce)
