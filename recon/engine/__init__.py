"""Django-free tomographic reconstruction engine.

Geometry (:mod:`.geometry`) is built once and handed to any algorithm:
:func:`fdk`/:func:`fbp` (analytic), :func:`sirt`/:func:`cgls` (iterative, with the
matched projector pair of :mod:`.projector`), preprocessing, centre finding,
calibration and slab-wise reconstruction for volumes larger than memory.
"""
