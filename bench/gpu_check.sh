#!/usr/bin/env bash
# One-shot GPU check of the reconstruction engine on a lent, bare GPU machine.
#
#   bash bench/gpu_check.sh 2>&1 | tee gpu_check.log
#
# Finds a Python that has numpy/CuPy (the image's own, where it has them), installs
# what is missing from the package index or from wheels carried in .whl/ (pip --target;
# set PYTHON=... to choose the interpreter), runs the gpu-marked tests (CPU ↔
# GPU agreement, every backprojection variant within its tolerance) and the 512³ × 720
# GPU FDK benchmark of every variant (speed, CPU agreement, end to end, which meet the
# goals).  Prints everything; a failing step is reported and the script goes on.
# Budget: under ~6 minutes (70 s on an H100 whose image already has CuPy).
set -u
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1
START=$(date +%s)
step() { echo; echo "=== [$(( $(date +%s) - START )) s] $*"; }
status=()

step "machine"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 || echo "nvidia-smi failed"
nproc; python3 --version

step "python"
# The image may keep its packages (numpy, numba, CuPy, ...) in a virtual environment of
# its own rather than in the first python3 on PATH: take the first interpreter that has
# numpy and CuPy, else the first with numpy, else python3.
PY=""
CANDIDATES="${PYTHON:-} python3 /opt/torch/.venv/bin/python3 $(ls /opt/*/.venv/bin/python3 /opt/*/bin/python3 2>/dev/null | tr '\n' ' ') /usr/local/bin/python3 /usr/bin/python3"
for want in "import numpy, cupy" "import numpy"; do
    for c in $CANDIDATES; do
        if command -v "$c" >/dev/null 2>&1 && "$c" -c "$want" >/dev/null 2>&1; then PY=$c; break 2; fi
    done
done
PY=${PY:-python3}
echo "using $PY ($($PY --version 2>&1))"

have() { $PY -c "$1" >/dev/null 2>&1; }
SITE=/tmp/nanoscope-gpu-site
pip_target() {  # pip install --target $SITE with bounded time; 0 when it installed
    timeout 240 $PY -m pip install -q --disable-pip-version-check --timeout 20 --retries 1 \
        --target "$SITE" "$@" >/tmp/gpu_check_pip.log 2>&1
}
install() {  # install "$@" into $SITE: carried wheels, else the index; report, never abort
    echo "pip install --target $SITE $*"
    # Wheels carried in .whl/ serve a machine that reaches no index; their dependencies
    # are this script's other requirements (pip --target would not see them installed).
    if pip_target --no-index --no-deps --find-links .whl "$@" || pip_target "$@"; then
        echo "pip finished"
    else
        echo "pip FAILED (continuing with what is there):"
        tail -5 /tmp/gpu_check_pip.log
    fi
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
}
# Install only what is missing (module:package), pinned as requirements.txt pins it.
missing=()
for pair in numpy:numpy scipy:scipy numba:numba skimage:scikit-image h5py:h5py \
        hdf5plugin:hdf5plugin pytest:pytest; do
    module=${pair%%:*}; package=${pair#*:}
    have "import $module" || missing+=("$(grep -E "^$package==" requirements.txt || echo "$package")")
done
if [ ${#missing[@]} -gt 0 ]; then
    step "installing the missing requirements: ${missing[*]}"
    install "${missing[@]}"
fi
if ! have "import cupy; assert cupy.cuda.runtime.getDeviceCount() > 0"; then
    step "installing CuPy"
    install cupy-cuda12x
fi

step "versions"
$PY - <<'PY' 2>&1
import importlib
for name in ("numpy", "scipy", "numba", "skimage", "h5py", "hdf5plugin", "pytest", "cupy"):
    try:
        m = importlib.import_module(name)
        print(f"{name:8s} {getattr(m, '__version__', '?')}")
    except Exception as exc:  # report and go on
        print(f"{name:8s} MISSING: {exc}")
try:
    import cupy
    print("CUDA devices:", cupy.cuda.runtime.getDeviceCount(),
          "runtime", cupy.cuda.runtime.runtimeGetVersion())
except Exception as exc:
    print("CuPy/CUDA unusable:", exc)
from recon.engine.backends import gpu_available, get_backend
print("gpu_available:", gpu_available(), "auto backend:", get_backend("auto").name)
PY

step "gpu-marked tests (CPU vs GPU within 1e-3; each variant within its tolerance; the pipeline)"
# --noconftest: the project-wide conftest needs Django and servers, not needed here.
if timeout 240 $PY -m pytest -p no:cacheprovider --noconftest -o addopts="" -m gpu -v -rs \
        tests/recon/test_gpu_backend.py tests/recon/test_gpu_pipeline.py 2>&1; then
    status+=("tests: PASSED")
else
    status+=("tests: FAILED or timed out (rc=$?)")
fi

step "GPU FDK benchmark 512^3 x 720 projections of 512^2, every backprojection variant"
if timeout 240 $PY -m bench.recon_fdk_gpu --size 512 --angles 720 --repeats 3 --variants 2>&1; then
    status+=("benchmark: done")
else
    status+=("benchmark: FAILED or timed out (rc=$?)")
fi

step "summary"
for s in "${status[@]}"; do echo "  $s"; done
echo "total $(( $(date +%s) - START )) s"
