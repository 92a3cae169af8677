"""The viewer's data endpoints: values, shapes, headers, caching and the access rule."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.viewer.conftest import SHAPE, make_volume, ramp, remodelling_labels
from tests.viewer.pngdecode import decode_gray_png

pytestmark = pytest.mark.django_db


def url(name: str, volume, **query) -> str:
    args = [volume.pk] if not isinstance(volume, int) else [volume]
    if name == "label":
        args.append(query.pop("label_name"))
    base = reverse(f"viewer:{name}", args=args)
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def raw(response) -> np.ndarray:
    dtype = {"float32": "<f4", "uint16": "<u2", "uint8": "u1"}[response["X-Dtype"]]
    shape = tuple(int(s) for s in response["X-Shape"].split(","))
    q = np.frombuffer(response.content, dtype).reshape(shape)
    return q * float(response["X-Scale"]) + float(response["X-Offset"])


@pytest.mark.parametrize(
    ("axis", "index", "expected"),
    [("z", 7, lambda v: v[7]), ("y", 19, lambda v: v[:, 19, :]), ("x", 0, lambda v: v[:, :, 0])],
)
def test_float32_slices_are_the_stored_values(world, volume, axis, index, expected):
    response = world.client("viewer").get(url("slice", volume, axis=axis, index=index, fmt="f32"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Dtype"] == "float32"
    assert response["X-Voxel-Size-Um"] == "5.0"
    np.testing.assert_array_equal(raw(response), expected(ramp()))


def test_uint16_slices_are_within_half_a_quantisation_step(world, volume):
    response = world.client("viewer").get(url("slice", volume, axis="z", index=3, fmt="u16"))
    truth = ramp()[3]
    scale = float(response["X-Scale"])
    assert response["X-Dtype"] == "uint16"
    assert len(response.content) == truth.size * 2
    assert scale == pytest.approx((truth.max() - truth.min()) / 65535)
    np.testing.assert_allclose(raw(response), truth, atol=scale / 2 * 1.001)


def test_png_applies_the_window(world, volume):
    response = world.client("viewer").get(
        url("slice", volume, axis="z", index=2, fmt="png", lo=0, hi=2550)
    )
    assert response["Content-Type"] == "image/png"
    pixels = decode_gray_png(response.content)
    expected = np.clip(np.floor(ramp()[2] / 10 + 0.5), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(pixels, expected)


def test_png_without_a_window_uses_the_robust_range(world, volume):
    response = world.client("viewer").get(url("slice", volume, axis="z", index=0, fmt="png"))
    pixels = decode_gray_png(response.content)
    assert pixels.shape == SHAPE[1:]
    assert pixels[0, 0] == 0  # the smallest values lie below the 0.5 % point
    assert pixels.max() > 0


def test_coarser_levels_are_block_means(world, volume):
    response = world.client("viewer").get(
        url("slice", volume, axis="z", index=1, level=1, fmt="f32")
    )
    assert response["X-Level"] == "1"
    assert response["X-Voxel-Size-Um"] == "10.0"
    values = raw(response)
    block = ramp()[2:4].reshape(2, 10, 2, 8, 2).mean(axis=(0, 2, 4))
    np.testing.assert_allclose(values, block, rtol=1e-6)


def test_tiles_are_sub_rectangles_of_the_slice(world, volume):
    response = world.client("viewer").get(
        url("tile", volume, axis="y", index=4, fmt="f32", r0=3, r1=11, c0=5, c1=16)
    )
    assert response.status_code == 200
    assert response["X-Origin"] == "3,5"
    np.testing.assert_array_equal(raw(response), ramp()[3:11, 4, 5:16])


def test_label_slices_are_uint8(world, volume):
    response = world.client("viewer").get(
        url("label", volume, label_name="remodelling", axis="x", index=4)
    )
    assert response["X-Dtype"] == "uint8"
    np.testing.assert_array_equal(raw(response), remodelling_labels()[:, :, 4])


def test_preview_is_the_first_level_that_fits(world, volume):
    client = world.client("viewer")
    response = client.get(url("preview", volume, max=16))
    # Levels: (24, 20, 16), (12, 10, 8), (6, 5, 4): the first with every side ≤ 16 is level 1.
    assert response["X-Shape"] == "12,10,8"
    assert response["X-Level"] == "1"
    values = raw(response)
    block = ramp().reshape(12, 2, 10, 2, 8, 2).mean(axis=(1, 3, 5))
    np.testing.assert_allclose(values, block, atol=float(response["X-Scale"]) / 2 * 1.001)
    labels = client.get(url("preview", volume, max=16, label="remodelling"))
    assert labels["X-Dtype"] == "uint8" and labels["X-Shape"] == "12,10,8"
    assert set(np.unique(raw(labels))) == {0, 2, 3}


def test_metadata_lists_levels_labels_calibration_and_a_histogram(world, volume):
    response = world.client("viewer").get(url("metadata", volume))
    assert response.status_code == 200
    meta = response.json()
    assert meta["shapes"] == [[24, 20, 16], [12, 10, 8], [6, 5, 4]]
    assert meta["voxel_size_um"] == [5.0, 10.0, 20.0]
    assert meta["units"] == "1/cm"
    assert meta["calibration"] == {"slope": 500.0, "intercept": -100.0}
    classes = meta["labels"]["remodelling"]["classes"]
    assert [(c["value"], c["name"]) for c in classes] == [
        (1, "quiescent"),
        (2, "formed"),
        (3, "resorbed"),
    ]
    hist = meta["histogram"]
    assert hist["level"] == 0 and sum(hist["counts"]) == ramp().size
    assert hist["max"] == pytest.approx(float(ramp().max()))


def test_answers_are_immutable_with_an_etag_and_304_on_revalidation(world, volume):
    client = world.client("viewer")
    first = client.get(url("slice", volume, axis="z", index=5, fmt="f32"))
    assert first["Cache-Control"] == "private, max-age=31536000, immutable"
    etag = first["ETag"]
    assert etag.startswith('"') and etag.endswith('"')
    again = client.get(url("slice", volume, axis="z", index=5, fmt="f32"), HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == etag
    other = client.get(url("slice", volume, axis="z", index=6, fmt="f32"), HTTP_IF_NONE_MATCH=etag)
    assert other.status_code == 200 and other["ETag"] != etag
    meta = client.get(url("metadata", volume))
    assert client.get(url("metadata", volume), HTTP_IF_NONE_MATCH=meta["ETag"]).status_code == 304


def test_another_studys_volume_is_404(world, volume, foreign_volume):
    client = world.client("owner")
    for name in ("metadata", "slice", "preview"):
        query = {"axis": "z", "index": 0} if name == "slice" else {}
        assert client.get(url(name, foreign_volume, **query)).status_code == 404
    assert client.get(url("metadata", 999999)).status_code == 404
    # Its own study's owner reads it.
    assert world.client("outsider").get(url("metadata", foreign_volume)).status_code == 200


def test_anonymous_requests_are_401_and_tokens_work(world, volume):
    assert APIClient().get(url("slice", volume, axis="z", index=0)).status_code == 401
    token = Token.objects.create(user=world.users["viewer"])
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(url("slice", volume, axis="z", index=0, fmt="u8")).status_code == 200


@pytest.mark.parametrize(
    ("name", "query", "word"),
    [
        ("slice", {"axis": "w", "index": 0}, "axis"),
        ("slice", {"axis": "z"}, "index"),
        ("slice", {"axis": "z", "index": "a"}, "index"),
        ("slice", {"axis": "z", "index": 24}, "index"),
        ("slice", {"axis": "z", "index": -1}, "index"),
        ("slice", {"axis": "z", "index": 0, "level": 3}, "level"),
        ("slice", {"axis": "z", "index": 0, "fmt": "jpeg"}, "fmt"),
        ("slice", {"axis": "z", "index": 0, "lo": 5, "hi": 1}, "lo"),
        ("slice", {"axis": "z", "index": 0, "lo": "nan"}, "lo"),
        ("tile", {"axis": "z", "index": 0, "r0": 0, "r1": 21, "c0": 0, "c1": 4}, "r0"),
        ("tile", {"axis": "z", "index": 0, "r0": 4, "r1": 4, "c0": 0, "c1": 4}, "r0"),
        ("preview", {"max": 4}, "max"),
        ("preview", {"label": "nothing"}, "level"),
        ("label", {"label_name": "nothing", "axis": "z", "index": 0}, "level"),
    ],
)
def test_bad_parameters_are_400_naming_the_parameter(world, volume, name, query, word):
    response = world.client("viewer").get(url(name, volume, **query))
    assert response.status_code == 400
    assert word in response.json()["detail"]


def test_other_label_volumes_list_the_values_present(world):
    segmentation = np.zeros(SHAPE, np.uint8)
    segmentation[2:6] = 1
    segmentation[10:12, :4] = 5
    volume = make_volume(world.session, "seg", ramp(), labels={"segmentation": segmentation})
    meta = world.client("viewer").get(url("metadata", volume)).json()
    classes = meta["labels"]["segmentation"]["classes"]
    assert [(c["value"], c["name"]) for c in classes] == [
        (1, "segmentation 1"),
        (5, "segmentation 5"),
    ]


def test_a_constant_volume_gets_a_usable_default_window(world):
    volume = make_volume(world.session, "flat", np.full(SHAPE, 2.5, np.float32))
    response = world.client("viewer").get(url("slice", volume, axis="z", index=0))
    assert response.status_code == 200
    # The window [2.5, 3.5] puts the constant at its bottom: black.
    assert not decode_gray_png(response.content).any()


def test_label_tiles_are_sub_rectangles_of_the_label_slice(world, volume):
    response = world.client("viewer").get(
        url("label", volume, label_name="remodelling", axis="z", index=6, r0=2, r1=9, c0=1, c1=7)
    )
    assert response["X-Origin"] == "2,1"
    np.testing.assert_array_equal(raw(response), remodelling_labels()[6, 2:9, 1:7])
    bad = world.client("viewer").get(
        url("label", volume, label_name="remodelling", axis="z", index=6, r0=2, r1=99, c0=1, c1=7)
    )
    assert bad.status_code == 400 and "r0" in bad.json()["detail"]
