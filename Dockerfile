# syntax=docker/dockerfile:1
# The nanoscope image: the web server, every worker, beat and the migrate job run it
# (see docker-compose.yml).  GPU workers build it with EXTRA_PIP set to CuPy with its
# CUDA runtime wheels; the host needs only the NVIDIA driver and container toolkit.
ARG PYTHON_VERSION=3.11
FROM python:${PYTHON_VERSION}-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

# libgomp: OpenMP threads of numba, scipy and SimpleITK.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libgomp1 libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 \
    && rm -rf /var/lib/apt/lists/* \
    && python -m venv /opt/venv

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt

# e.g. EXTRA_PIP="cupy-cuda12x[ctk]==14.2.0" for the gpu worker (docker-compose.yml).
ARG EXTRA_PIP=""
RUN if [ -n "$EXTRA_PIP" ]; then pip install $EXTRA_PIP; fi

COPY . .

# Provenance: results record this version (there is no .git in the image).
ARG NANOSCOPE_CODE_VERSION=0.1.0+docker
ENV NANOSCOPE_CODE_VERSION=$NANOSCOPE_CODE_VERSION \
    STATIC_ROOT=/app/static \
    NANOSCOPE_DATA_ROOT=/data \
    NANOSCOPE_VAR_DIR=/tmp/nanoscope

# Static files are collected at build time (embedded settings: no secret needed).
RUN python manage.py collectstatic --noinput --verbosity 0 && rm -rf /tmp/nanoscope

# An unprivileged user owns the data root; give it the uid the data root's other
# hosts use (NFS) with --build-arg APP_UID=….
ARG APP_UID=1000
RUN useradd --uid "$APP_UID" --create-home --shell /usr/sbin/nologin nanoscope \
    && mkdir -p /data \
    && chown nanoscope /data
USER nanoscope

EXPOSE 8000
CMD ["gunicorn", "nanoscope_web.wsgi:application", "--config", "docker/gunicorn.conf.py"]
