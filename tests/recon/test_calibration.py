"""Hydroxyapatite calibration: attenuation (1/cm) → mgHA/cm³."""

import numpy as np
import pytest

from recon.engine.calibration import apply_calibration, fit_ha_calibration
from recon.engine.fdk import fdk
from recon.engine.geometry import default_volume

from .phantoms import Ellipsoid, project

MU_WATER = 0.30  # 1/cm
MU_PER_MGHA = 2.4e-3  # 1/cm per mgHA/cm³
INSERTS = {0.0: (-90.0, -60.0), 250.0: (90.0, -60.0), 750.0: (-90.0, 70.0), 500.0: (90.0, 70.0)}
RADIUS_UM = 45.0


def _phantom() -> list[Ellipsoid]:
    """A water cylinder holding four HA rods (the instrument's calibration insert)."""
    parts = [Ellipsoid(MU_WATER, (0.0, 0.0, 0.0), (200.0, 190.0, 1e5))]
    for density, (x, y) in INSERTS.items():
        extra = MU_PER_MGHA * density
        if extra:
            parts.append(Ellipsoid(extra, (x, y, 0.0), (RADIUS_UM, RADIUS_UM, 1e5)))
    return parts


def _mask(volume, centre) -> np.ndarray:
    z, y, x = np.meshgrid(volume.z_um(), volume.y_um(), volume.x_um(), indexing="ij")
    inside = (x - centre[0]) ** 2 + (y - centre[1]) ** 2 <= (RADIUS_UM - 20.0) ** 2
    return inside & (np.abs(z) < 80.0)


def test_calibration_maps_insert_densities_within_two_percent(cone_geometry):
    volume = default_volume(cone_geometry)
    rec = fdk(project(_phantom(), cone_geometry), cone_geometry, backend="cpu")
    fit_on = (0.0, 250.0, 750.0)
    cal = fit_ha_calibration(rec, [_mask(volume, INSERTS[d]) for d in fit_on], fit_on)
    assert cal.slope == pytest.approx(1 / MU_PER_MGHA, rel=0.02)
    assert cal.r_squared > 0.999
    density = apply_calibration(rec, cal)
    for d, centre in INSERTS.items():  # 500 was not used in the fit
        measured = float(density[_mask(volume, centre)].mean())
        assert measured == pytest.approx(d, abs=0.02 * 750.0)
        if d:
            assert measured == pytest.approx(d, rel=0.02)


def test_exact_linear_data_fits_exactly():
    mu = np.array([0.3, 0.9, 2.1])
    vol = np.repeat(mu, 4).reshape(3, 2, 2)
    masks = [np.zeros(vol.shape, bool) for _ in mu]
    for k, m in enumerate(masks):
        m[k] = True
    cal = fit_ha_calibration(vol, masks, [0.0, 250.0, 750.0])
    assert cal.slope == pytest.approx(250.0 / 0.6)
    assert cal.intercept == pytest.approx(-125.0)
    np.testing.assert_allclose(cal.residuals_mgha_cm3, 0.0, atol=1e-9)
    assert cal.to_dict()["densities_mgha_cm3"] == [0.0, 250.0, 750.0]


@pytest.mark.parametrize(
    ("masks", "densities", "message"),
    [
        ([np.ones((2, 2), bool)], [0.0], "at least two"),
        ([np.ones((2, 2), bool)] * 2, [0.0, 1.0, 2.0], "2 masks for 3"),
        ([np.ones((3, 2), bool), np.ones((2, 2), bool)], [0.0, 1.0], r"masks\[0\]: shape"),
        ([np.zeros((2, 2), bool), np.ones((2, 2), bool)], [0.0, 1.0], r"masks\[0\]: empty"),
        ([np.ones((2, 2), bool)] * 2, [0.0, 1.0], "same attenuation"),
    ],
)
def test_bad_calibration_input(masks, densities, message):
    with pytest.raises(ValueError, match=message):
        fit_ha_calibration(np.ones((2, 2)), masks, densities)
