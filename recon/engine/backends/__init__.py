"""Compute backends: the numba CPU backend (default) and the CuPy GPU backend.

A backend is a module exposing ``name``, ``backproject_fdk``, ``forward_project``
and ``adjoint_backproject`` with the signatures of :mod:`.cpu`; they take and
return numpy arrays.  :func:`get_backend` picks one by name; ``"auto"`` takes the
GPU when CuPy imports and sees a CUDA device, the CPU otherwise.
"""

from __future__ import annotations

from types import ModuleType

__all__ = ["BACKENDS", "get_backend", "gpu_available"]

BACKENDS = ("auto", "cpu", "gpu")


def gpu_available() -> bool:
    """True when CuPy imports and at least one CUDA device is present."""
    try:
        import cupy
    except Exception:
        return False
    try:
        return cupy.cuda.runtime.getDeviceCount() > 0
    except Exception:
        return False


def get_backend(backend: str | ModuleType = "auto") -> ModuleType:
    """Return the backend module called ``backend`` ("auto", "cpu" or "gpu").

    Raises
    ------
    ValueError
        For an unknown name.
    RuntimeError
        When "gpu" is asked for and no CuPy/CUDA device is available.
    """
    if isinstance(backend, ModuleType):
        return backend
    if backend not in BACKENDS:
        raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
    if backend == "gpu" or (backend == "auto" and gpu_available()):
        if not gpu_available():
            raise RuntimeError("backend: 'gpu' needs CuPy and a CUDA device; none found")
        from . import gpu

        return gpu
    from . import cpu

    return cpu
