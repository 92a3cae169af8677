"""Find instrument drivers by name.

The lab's settings map driver names to dotted class paths
(``NANOSCOPE_DRIVERS = {"simulated": "acquisition.drivers.simulated.SimulatedXrayMicroscope",
"versa": "mylab.drivers.ZeissVersa"}``); an Instrument record names its driver and
carries its configuration. :func:`get_driver` imports the class, checks that it
implements :class:`~acquisition.drivers.base.XrayMicroscope` and builds it with the
configuration. Nothing here imports Django: the caller passes the mapping.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from .base import XrayMicroscope

__all__ = ["DEFAULT_DRIVERS", "DriverError", "driver_class", "get_driver"]

DEFAULT_DRIVERS: dict[str, str] = {
    "simulated": "acquisition.drivers.simulated.SimulatedXrayMicroscope",
}
"""Drivers known without any setting."""

_PROTOCOL_MEMBERS = (
    "capabilities",
    "status",
    "prepare",
    "geometry",
    "acquire_darks",
    "acquire_flats",
    "acquire_projections",
    "abort",
)


class DriverError(LookupError):
    """A driver name that is not registered, or a class that is not a driver."""


def driver_class(name: str, registry: Mapping[str, str] | None = None) -> type:
    """The driver class registered under ``name``.

    Parameters
    ----------
    name : str
        Driver name, a key of ``registry``.
    registry : mapping of str to str, optional
        ``{name: "package.module.ClassName"}``; :data:`DEFAULT_DRIVERS` when ``None``.

    Raises
    ------
    DriverError
        Unknown name, unimportable module, missing class, or a class lacking members of
        the :class:`XrayMicroscope` protocol (the message lists them).
    """
    registry = DEFAULT_DRIVERS if registry is None else registry
    if name not in registry:
        known = ", ".join(sorted(registry)) or "none"
        raise DriverError(f"unknown driver {name!r}; registered drivers: {known}")
    dotted = registry[name]
    module_name, _, class_name = str(dotted).rpartition(".")
    if not module_name:
        raise DriverError(f"driver {name!r}: {dotted!r} is not a dotted path 'module.Class'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverError(f"driver {name!r}: cannot import {module_name!r}: {exc}") from exc
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type):
        raise DriverError(f"driver {name!r}: {module_name!r} has no class {class_name!r}")
    missing = [m for m in _PROTOCOL_MEMBERS if not hasattr(cls, m)]
    if missing:
        raise DriverError(
            f"driver {name!r}: {dotted} does not implement the XrayMicroscope protocol "
            f"(missing: {', '.join(missing)})"
        )
    return cls


def get_driver(
    name: str, config: Mapping[str, Any] | None = None, registry: Mapping[str, str] | None = None
) -> XrayMicroscope:
    """Build the driver registered under ``name`` with its configuration.

    Parameters
    ----------
    name : str
        Driver name (e.g. ``"simulated"``).
    config : mapping, optional
        Keyword configuration passed to the class as its single argument.
    registry : mapping of str to str, optional
        Name → dotted path (Django passes ``settings.NANOSCOPE_DRIVERS``);
        :data:`DEFAULT_DRIVERS` when ``None``.

    Returns
    -------
    XrayMicroscope

    Raises
    ------
    DriverError
        See :func:`driver_class`; also when the built object fails the protocol check.
    ValueError
        From the driver, for a configuration it rejects.
    """
    cls = driver_class(name, registry)
    driver = cls(dict(config or {}))
    if not isinstance(driver, XrayMicroscope):
        raise DriverError(f"driver {name!r}: {cls.__name__} instances are not XrayMicroscope")
    return driver
