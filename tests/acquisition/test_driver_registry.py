"""Finding drivers by name through a settings-like mapping."""

from __future__ import annotations

import pytest

from acquisition.drivers import DriverError, get_driver
from acquisition.drivers.simulated import SimulatedXrayMicroscope


class NotADriver:
    def __init__(self, config):
        self.config = config

    def status(self):
        return None


def test_default_registry_knows_the_simulator_and_passes_the_config():
    driver = get_driver("simulated", {"detector_shape": [64, 64]})
    assert isinstance(driver, SimulatedXrayMicroscope)
    assert driver.capabilities.detector.n_rows == 64


def test_a_lab_registry_maps_its_own_names():
    registry = {"versa": "acquisition.drivers.simulated.SimulatedXrayMicroscope"}
    assert isinstance(get_driver("versa", {}, registry), SimulatedXrayMicroscope)
    with pytest.raises(DriverError, match="unknown driver 'simulated'; registered drivers: versa"):
        get_driver("simulated", {}, registry)


@pytest.mark.parametrize(
    "path, message",
    [
        ("nowhere.module.Driver", "cannot import 'nowhere.module'"),
        ("acquisition.drivers.simulated.Missing", "has no class 'Missing'"),
        ("NoDots", "not a dotted path"),
        (
            "tests.acquisition.test_driver_registry.NotADriver",
            "missing: capabilities, prepare, geometry, acquire_darks",
        ),
    ],
)
def test_bad_registrations_give_clear_errors(path, message):
    with pytest.raises(DriverError, match=message):
        get_driver("lab", {}, {"lab": path})
