# One image for the API and the workers. (Not buildable on the development machines, which
# have no Docker engine; the same steps are what scripts/install.sh runs and CI tests.)
FROM python:3.11-slim-bookworm
# g++ and cmake: llama-cpp-python (the embedded answer model's server) compiles from source.
RUN apt-get update && apt-get install -y --no-install-recommends \
        tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim poppler-utils libmagic1 qpdf \
        g++ cmake make \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml constraints.txt README.md ./
COPY core core
COPY ingest ingest
COPY index index
COPY retrieval retrieval
COPY llm llm
COPY api api
COPY workers workers
COPY zhiku zhiku
# CPU torch from PyTorch's CPU index; on GPU hosts use the default (CUDA) wheel and the gpu extra.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu \
    && CMAKE_ARGS="-DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF" \
       pip install --no-cache-dir -c constraints.txt .
ENV ZHIKU_DATA_DIR=/data
VOLUME /data
EXPOSE 8000
CMD ["zhiku", "serve", "--host", "0.0.0.0"]
