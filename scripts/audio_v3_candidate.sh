#!/usr/bin/env bash
# Train and measure the audio v3 candidates (NOT shipped: framesentry/assets/audio is left as it is).
#   corpus v3 + codec copies + frozen features (2 shard processes) -> two back ends:
#     full:    cnn logit + LPC residual + Whisper block (the default recipe)
#     whisper: the frozen Whisper block alone
#   -> docs/audio_v3_candidate.json (framesentry eval --only audio / crossdomain-audio of each candidate, and of
#      the shipped model on the same corpus v3 test split and crossdomain-dev, for the side-by-side).
# Everything runs under the idle scheduling class (machine shared with latency benchmarks).
set -euo pipefail
cd "$(dirname "$0")/.."
PY="chrt -i 0 .venv/bin/python"
WORK=$(.venv/bin/python -c 'from framesentry.config import get_settings; print(get_settings().work_dir)')
CAND="$WORK/audio_v3_candidates"
TMP=$(mktemp -d)
stamp() { echo "[$(date -u +%H:%M:%S)] $*"; }

stamp "prepare corpus v3 + features"
$PY -m framesentry.lab.audio.prepare --jobs 2
for name in full whisper; do
  feats=cnn,res_log_kurt,res_log_crest,whisper
  [ "$name" = whisper ] && feats=whisper
  mkdir -p "$CAND/$name"
  ln -sfn "$PWD/framesentry/assets/visual" "$CAND/$name/visual"
  stamp "train $name ($feats)"
  $PY -m framesentry train audio --features "$feats" --out "$CAND/$name/audio"
  for only in audio crossdomain-audio; do
    stamp "eval $name $only"
    FRAMESENTRY_MODELS_DIR="$CAND/$name" $PY -m framesentry eval --only "$only" --out "$TMP/$name.json" >/dev/null
  done
done
for only in audio crossdomain-audio; do
  stamp "eval shipped $only"
  $PY -m framesentry eval --only "$only" --out "$TMP/shipped.json" >/dev/null
done
.venv/bin/python -m framesentry.lab.audio.candidate_report "$TMP" "$CAND" docs/audio_v3_candidate.json
stamp "wrote docs/audio_v3_candidate.json"
