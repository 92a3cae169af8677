"""The GPU backend's CUDA source compiles with NVRTC, checked without a GPU.

NVRTC (``nvidia-cuda-nvrtc-cu12`` through ``cuda-bindings``, test requirements) compiles
for a virtual architecture with no device and no driver, so an error in the kernels'
source shows on every run of the suite, not only on a machine with a GPU, where
``test_gpu_backend.py`` then checks the numbers.
"""

from __future__ import annotations

import re

import pytest

from recon.engine.backends.cuda_kernels import SOURCE, Z_PER_THREAD, compile_options

nvrtc = pytest.importorskip("cuda.bindings.nvrtc")

ARCHITECTURE = "--gpu-architecture=compute_70"
"""The oldest architecture the backend is meant for (Volta); newer ones compile the same."""

KERNELS = ("backproject_fdk", "forward_splat", "adjoint_gather")


def compile_ptx(source: str, options: tuple[str, ...]) -> tuple[bool, str, str]:
    """``(compiled, log, ptx)`` of ``source`` under ``options``."""
    err, program = nvrtc.nvrtcCreateProgram(source.encode(), b"kernels.cu", 0, [], [])
    assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, err
    try:
        flags = [o.encode() for o in (*options, ARCHITECTURE)]
        (err,) = nvrtc.nvrtcCompileProgram(program, len(flags), flags)
        _, size = nvrtc.nvrtcGetProgramLogSize(program)
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        ptx = ""
        if err == nvrtc.nvrtcResult.NVRTC_SUCCESS:
            _, size = nvrtc.nvrtcGetPTXSize(program)
            buffer = b" " * size
            nvrtc.nvrtcGetPTX(program, buffer)
            ptx = buffer.decode(errors="replace")
        return err == nvrtc.nvrtcResult.NVRTC_SUCCESS, log.decode(errors="replace"), ptx
    finally:
        nvrtc.nvrtcDestroyProgram(program)


@pytest.mark.parametrize("texture", [False, True], ids=["exact", "texture"])
@pytest.mark.parametrize("z_per_thread", [1, Z_PER_THREAD])
def test_every_variant_compiles_and_exports_its_kernels(z_per_thread, texture):
    compiled, log, ptx = compile_ptx(SOURCE, compile_options(z_per_thread, texture))
    assert compiled, log
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert entries == set(KERNELS)  # extern "C": the names the launcher looks up


def test_an_error_in_the_source_is_caught():
    broken = SOURCE.replace("g.col_step = gp[10];", "g.col_steps = gp[10];")
    assert broken != SOURCE
    compiled, log, _ = compile_ptx(broken, compile_options())
    assert not compiled
    assert "col_steps" in log
