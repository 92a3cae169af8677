"""Django-free tomographic reconstruction engine.

Geometry (:mod:`.geometry`) is built once and handed to any algorithm:

* :mod:`.preprocessing` — flat/dark normalisation, clamped −log, bad pixels,
  zingers, stripe (ring) removal, beam-hardening polynomial;
* :mod:`.centre` — rotation-axis offset and detector tilt from the data;
* :mod:`.fdk` — FBP (parallel) and FDK (cone) with apodised ramp filters,
  Parker short-scan and offset-detector weights, regions of interest;
* :mod:`.iterative` — SIRT, CGLS and FISTA-TV with the matched projector pair of
  :mod:`.projector`;
* :mod:`.slabs` and :mod:`.memory` — z-slab reconstruction with projections
  streamed in angle batches under a memory limit (:class:`.memory.InsufficientMemoryError`);
* :mod:`.calibration` — hydroxyapatite density calibration (mgHA/cm³);
* :mod:`.backends` — the numba CPU backend and the CuPy GPU backend.
"""
