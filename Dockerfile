# FrameSentry, CPU image: the API (`framesentry serve`) and the worker (`framesentry worker`) from one image.
# Build: docker build -t framesentry:cpu .     Run: see docker-compose.yml and docs/SERVICE.md ("Operations").
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FRAMESENTRY_WORK_DIR=/var/lib/framesentry \
    FRAMESENTRY_STORAGE_DIR=/var/lib/framesentry/media \
    FRAMESENTRY_HOST=0.0.0.0 \
    FRAMESENTRY_RTMP_HOST=0.0.0.0 \
    FRAMESENTRY_LOG_FORMAT=json

RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ffmpeg curl \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /opt/framesentry
# The torch trio first, CPU builds, exactly the project's pins, so nothing later can pull another torch.
RUN pip install --index-url https://download.pytorch.org/whl/cpu \
      torch==2.14.1 torchvision==0.29.1 torchaudio==2.11.0
COPY scripts/requirements-nodeps.txt scripts/requirements-nodeps.txt
RUN pip install --no-deps -r scripts/requirements-nodeps.txt
COPY pyproject.toml README.md ./
COPY framesentry framesentry
RUN pip install . \
 && useradd --system --home-dir /var/lib/framesentry --create-home framesentry
USER framesentry
# ONNX Runtime engines built ahead of time into the image's work dir (the server never builds on the fly).
RUN framesentry engines build --backend onnx

# 8000: REST API, WHIP, /metrics; 1935: RTMP ingest; 9808: worker metrics.
EXPOSE 8000 1935 9808
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8000/v1/health || exit 1
CMD ["framesentry", "serve"]
