"""Side-by-side report of audio candidates and the shipped model: ``scripts/audio_v3_candidate.sh`` calls
``python -m framesentry.lab.audio.candidate_report <eval dir> <candidates dir> <out.json>``.

Inputs are the files ``framesentry eval --only audio`` / ``--only crossdomain-audio`` wrote for each model
(``<eval dir>/<name>.json``; ``shipped.json`` for the committed model) and each candidate's model card
(``<candidates dir>/<name>/audio/model_card.json``, for its cost per window). Nothing is computed here
except the Markdown table, which copies the numbers.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from framesentry.lab.audio.spoofgen import GENERATORS


def _pct(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.1f} %"


def collect(eval_dir: Path, cand_dir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "note": "Audio v3 candidates, not shipped (framesentry/assets/audio unchanged). Made by "
        "scripts/audio_v3_candidate.sh; each section is what `framesentry eval` wrote for that model.",
        "models": {},
    }
    for path in sorted(eval_dir.glob("*.json")):
        doc = json.loads(path.read_text())
        entry = {"audio": doc.get("audio"), "crossdomain_audio": doc.get("crossdomain", {}).get("audio")}
        card = cand_dir / path.stem / "audio" / "model_card.json"
        if card.is_file():
            c = json.loads(card.read_text())
            entry["version"] = c["version"]
            entry["features"] = c["fusion"].get("features")
            entry["speed_ms_per_4s_window"] = c["metrics"].get("speed")
            entry["corpus_counts"] = c["data"].get("counts")
        out["models"][path.stem] = entry
    return out


def markdown(report: dict[str, Any]) -> str:
    models = report["models"]
    names = list(models)
    lines = ["| metric | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]

    def row(label: str, get: Any) -> None:
        cells = []
        for n in names:
            try:
                cells.append(get(models[n]))
            except (KeyError, TypeError):
                cells.append("—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")

    for g in GENERATORS:
        row(f"LOGO EER, held out {g}", lambda m, g=g: _pct(m["audio"]["logo"]["per_generator"][g]["eer"]))
    row("LOGO pooled EER", lambda m: _pct(m["audio"]["logo"]["pooled_eer"]))
    row("LOGO pooled EER, Whisper-only refit", lambda m: _pct(m["audio"]["logo_frozen_only"]["pooled_eer"]))
    row("in-domain pooled EER, clean test", lambda m: _pct(m["audio"]["clean"]["pooled"]["eer"]))
    row("in-domain pooled EER, codec test", lambda m: _pct(m["audio"]["codec"]["pooled"]["eer"]))
    row("false alarms at Fake threshold, codec real test",
        lambda m: _pct(m["audio"]["codec"]["false_alarms_at_fake_threshold"]["rate"]))
    row("ECE after calibration (clean + codec)", lambda m: f"{m['audio']['ece_after_clean_and_codec']:.3f}")
    row("crossdomain-dev AUC", lambda m: f"{m['crossdomain_audio']['auc']:.3f}")
    row("crossdomain-dev EER", lambda m: _pct(m["crossdomain_audio"]["eer"]))
    row("crossdomain-dev caught at 0.5", lambda m: f"{m['crossdomain_audio']['caught_at_0.5']} of "
        f"{m['crossdomain_audio']['n_fake']}")
    manips = sorted({k for m in models.values() if m.get("crossdomain_audio")
                     for k in m["crossdomain_audio"]["per_manipulation"]})
    for k in manips:
        row(f"crossdomain {k} AUC / EER", lambda m, k=k: f"{m['crossdomain_audio']['per_manipulation'][k]['auc']:.3f}"
            f" / {_pct(m['crossdomain_audio']['per_manipulation'][k]['eer'])}")
    row("ms per 4 s window (VAD+CNN+residual+Whisper)",
        lambda m: f"{m['speed_ms_per_4s_window']['total_ms_per_window']:.0f}")
    row("Whisper ms per 4 s window", lambda m: f"{m['speed_ms_per_4s_window']['whisper_ms']:.0f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 3:
        raise SystemExit("usage: python -m framesentry.lab.audio.candidate_report EVAL_DIR CANDIDATES_DIR OUT.json")
    report = collect(Path(args[0]), Path(args[1]))
    report["table_markdown"] = markdown(report)
    Path(args[2]).write_text(json.dumps(report, indent=1, default=float) + "\n")
    print(report["table_markdown"])


if __name__ == "__main__":
    main()
