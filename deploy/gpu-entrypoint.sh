#!/bin/sh
# Build the TensorRT and ONNX engines for this GPU if they are missing (kept when built and valid), then run
# `framesentry "$@"` (serve or worker). Engines live in FRAMESENTRY_WORK_DIR, a volume, so a restart is quick.
set -e
framesentry engines build --backend tensorrt
framesentry engines build --backend onnx
exec framesentry "$@"
