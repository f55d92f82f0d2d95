#!/usr/bin/env bash
# Set up FrameSentry on a fresh Debian machine: system tools, a Python 3.11 environment with the local torch
# wheels, and the project itself. Safe to run again: what is already there is kept.
#
# Heavy packages live in one shared base environment (FRAMESENTRY_BASE_VENV, default
# ~/.cache/framesentry/venv-<hash of the pins>) so a fresh clone does not reinstall 6 GB of torch; the
# checkout's own .venv layers on top of it through a .pth file and holds only the project (editable).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

log() { printf '[setup] %s\n' "$*" >&2; }

# --- system tools (Debian packages) -----------------------------------------------------------------
declare -A TOOL_PKG=([ffmpeg]=ffmpeg [docker-compose]=docker-compose [espeak-ng]=espeak-ng [flite]=flite [sox]=sox [pdftoppm]=poppler-utils [jq]=jq [curl]=curl [chromium]=chromium [node]=nodejs)
missing=()
for tool in "${!TOOL_PKG[@]}"; do command -v "$tool" >/dev/null 2>&1 || missing+=("${TOOL_PKG[$tool]}"); done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    log "missing system packages: ${missing[*]} (run as root or: sudo apt-get install -y ${missing[*]})"; exit 1
  fi
  log "installing system packages: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- Python ------------------------------------------------------------------------------------------
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null 2>&1 || PY=python3
"$PY" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { log "Python 3.11 is required"; exit 1; }

# The base environment is keyed by the torch pins only (the multi-GB part); the project's other pinned
# dependencies are brought up to date in it on every run, which is a no-op when nothing changed.
torch_pins="torch==2.14.1 torchvision==0.29.1 torchaudio==2.11.0 $(cat scripts/requirements-nodeps.txt)"
pins_hash=$(printf '%s' "$torch_pins" | sha256sum | cut -c1-12)
BASE=${FRAMESENTRY_BASE_VENV:-$HOME/.cache/framesentry/venv-$pins_hash}
if [ ! -f "$BASE/.framesentry-ready" ]; then
  log "building base environment $BASE (torch from local wheels; several minutes the first time)"
  rm -rf "$BASE"
  "$PY" -m venv "$BASE"
  "$BASE/bin/pip" install -q --upgrade pip
  # The torch trio first, exactly pinned, so nothing later can pull a different torch.
  "$BASE/bin/pip" install -q torch==2.14.1 torchvision==0.29.1
  "$BASE/bin/pip" install -q torchaudio==2.11.0
  "$BASE/bin/pip" install -q --no-deps -r scripts/requirements-nodeps.txt
  touch "$BASE/.framesentry-ready"
fi
# Every other pinned dependency of the project (pyproject's own list + dev + train), skipped when unchanged.
deps_hash=$(cat pyproject.toml | sha256sum | cut -c1-12)
if [ "$(cat "$BASE/.framesentry-deps" 2>/dev/null)" != "$deps_hash" ]; then
  log "installing the project's pinned dependencies into $BASE"
  "$BASE/bin/python" - > "$BASE/requirements-project.txt" <<'PYREQ'
import tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
extras = project["optional-dependencies"]
print("\n".join(project["dependencies"] + extras["dev"] + extras.get("train", [])))
PYREQ
  "$BASE/bin/pip" install -q -r "$BASE/requirements-project.txt"
  "$BASE/bin/python" - <<'PYCHECK'
import torch, torchvision, torchaudio
assert torch.__version__.startswith("2.14.1"), torch.__version__
assert torchvision.__version__.startswith("0.29.1"), torchvision.__version__
print("torch", torch.__version__, "torchvision", torchvision.__version__, "torchaudio", torchaudio.__version__)
PYCHECK
  echo "$deps_hash" > "$BASE/.framesentry-deps"
fi

# --- this checkout's environment -------------------------------------------------------------------
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.base 2>/dev/null)" != "$BASE" ]; then
  rm -rf .venv
  "$BASE/bin/python" -m venv --without-pip .venv
  echo "$BASE" > .venv/.base
fi
site_base=$("$BASE/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
site_here=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
echo "$site_base" > "$site_here/_framesentry_base.pth"
# Console scripts of the base (pytest, ruff, mypy) are used through the checkout's interpreter.
.venv/bin/python -m pip --version >/dev/null 2>&1 || true
"$BASE/bin/pip" --python .venv/bin/python install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install -q --no-deps --no-build-isolation -e .
.venv/bin/python -c 'import framesentry, torch; print("framesentry ready:", framesentry.__file__, "torch", torch.__version__)'
# Engines are built ahead of time, never on a first request: ONNX Runtime runs both models ~2x faster than
# PyTorch eager on a CPU (benchmarks/results/engines_offline_*.json). A valid engine is kept; see docs/ENGINES.md.
.venv/bin/framesentry engines build --backend onnx > /dev/null
