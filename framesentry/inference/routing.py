"""The router: which detection path a file or stream takes, and why, recorded in the result.

A ``RoutingPolicy`` decides four things, each returned as a ``RouteDecision`` with a readable reason:
- per audio window: score it, or skip it (too little speech by VAD, too noisy by SNR, clipped);
- per face crop: score it, or skip it (too small, too blurred to judge);
- per file: which models run and how their scores combine;
- after the verdict: whether to escalate to a deeper pass (more frames, test-time augmentation, explanations).

``DefaultPolicy`` is deterministic code with thresholds from settings. Other policies (``inference/llm_policy.py``)
sit behind the same interface; per-window and per-face gates stay deterministic in every policy (they are on
the hot path), only file-level decisions may be delegated. The quality measures here are plain numpy.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

from framesentry.config import Settings
from framesentry.inference.fusion import FUSION_PRIOR
from framesentry.inference.result import RouteDecision

if TYPE_CHECKING:
    from framesentry.inference.scoring import ScoredFace


@dataclass(frozen=True)
class AudioQuality:
    speech_fraction: float
    snr_db: float
    clipped_fraction: float


@dataclass(frozen=True)
class FaceQuality:
    size_px: float
    sharpness: float
    """Variance of the Laplacian of the grey 224 px crop: low = blurred."""


@dataclass(frozen=True)
class MediaFacts:
    has_video: bool
    has_audio: bool
    duration_s: float


@dataclass(frozen=True)
class Outcome:
    """What the first pass concluded, as the escalation decision sees it."""

    verdict: str
    p_fake: float
    visual_status: str
    audio_status: str


@dataclass(frozen=True)
class DeepPlan:
    """What an escalated deep pass does beyond explanations."""

    visual_fps_factor: float = 2.0
    tta: tuple[str, ...] = ("hflip",)


def audio_quality(samples: NDArray[np.float32], speech_fraction: float, rate: int = 16000) -> AudioQuality:
    """SNR from 20 ms frame energies (90th over 10th percentile) and the share of samples at full scale."""
    x = np.asarray(samples, dtype=np.float64)
    frame = max(1, rate // 50)
    n = len(x) // frame
    if n < 2:
        return AudioQuality(speech_fraction, 0.0, 0.0)
    energy = np.mean(x[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-12
    snr = 10.0 * np.log10(np.percentile(energy, 90) / np.percentile(energy, 10))
    clipped = float(np.mean(np.abs(x) >= 0.999))
    return AudioQuality(float(speech_fraction), float(snr), clipped)


def face_quality(face: ScoredFace) -> FaceQuality:
    """Face size (longer box side, frame pixels) and the sharpness of the crop the core scored."""
    return FaceQuality(float(face.box.size), face.sharpness)


class RoutingPolicy(Protocol):
    """Decides the detection path. ``name`` is recorded with every decision."""

    name: str

    def audio_window(self, q: AudioQuality) -> RouteDecision: ...

    def face(self, q: FaceQuality) -> RouteDecision: ...

    def modalities(self, facts: MediaFacts) -> list[RouteDecision]: ...

    def escalate(self, outcome: Outcome) -> RouteDecision: ...


COMBINE_RULE = "log_odds"
"""How modality scores combine: ``fusion.fuse_modalities``, recorded so the result says which rule made it."""
COMBINE_REASON = (
    f"log-odds with a stated prior ({FUSION_PRIOR:g} that the media is manipulated, split over the present "
    "modalities): each modality's posterior is the prior's log-odds plus its calibrated log-odds; the media is "
    "manipulated if any modality is"
)


class DefaultPolicy:
    """Deterministic thresholds from settings (``FRAMESENTRY_ROUTE_*``)."""

    name = "default"

    def __init__(self, settings: Settings) -> None:
        self.s = settings

    def _d(self, step: str, action: str, reason: str) -> RouteDecision:
        return RouteDecision(step=step, action=action, reason=reason, policy=self.name)

    def audio_window(self, q: AudioQuality) -> RouteDecision:
        s = self.s
        if q.speech_fraction < s.vad_min_speech_fraction:
            return self._d("audio_window", "skip", f"too little speech (VAD < {s.vad_min_speech_fraction:g})")
        if q.clipped_fraction > s.route_max_clipped_fraction:
            return self._d("audio_window", "skip", f"clipped (> {s.route_max_clipped_fraction:.1%} at full scale)")
        if q.snr_db < s.route_min_snr_db:
            return self._d("audio_window", "skip", f"too noisy (SNR < {s.route_min_snr_db:g} dB)")
        return self._d("audio_window", "score", "speech of usable quality")

    def face(self, q: FaceQuality) -> RouteDecision:
        s = self.s
        if q.size_px < s.route_min_face_px:
            return self._d("face", "skip", f"face too small (< {s.route_min_face_px} px)")
        if q.sharpness < s.route_min_face_sharpness:
            return self._d("face", "skip", f"face too blurred (sharpness < {s.route_min_face_sharpness:g})")
        return self._d("face", "score", "usable face")

    def modalities(self, facts: MediaFacts) -> list[RouteDecision]:
        out = [
            self._d("visual", "run" if facts.has_video else "skip",
                    "video track present" if facts.has_video else "no video track"),
            self._d("audio", "run" if facts.has_audio else "skip",
                    "audio track present" if facts.has_audio else "no audio track"),
        ]
        out.append(self._d("combine", COMBINE_RULE, COMBINE_REASON))
        return out

    def escalate(self, outcome: Outcome) -> RouteDecision:
        if outcome.verdict == "uncertain":
            return self._d("escalate", "deep_pass", f"verdict uncertain (p_fake {outcome.p_fake:.2f}): more frames, "
                           "test-time augmentation and explanations")
        return self._d("escalate", "explain_only",
                       f"verdict {outcome.verdict} (p_fake {outcome.p_fake:.2f}): explanations only")


class Router:
    """Applies a policy during one analysis and keeps its decisions (per-item gates are counted by reason)."""

    def __init__(self, policy: RoutingPolicy, rate: int = 16000) -> None:
        self.policy = policy
        self.rate = rate
        self.file_decisions: list[RouteDecision] = []
        self._counts: Counter[tuple[str, str, str]] = Counter()

    def plan(self, facts: MediaFacts) -> dict[str, str]:
        """File-level decisions; returns {step: action}."""
        decisions = self.policy.modalities(facts)
        self.file_decisions += decisions
        return {d.step: d.action for d in decisions}

    def keep_audio(self, samples: NDArray[np.float32], speech_fraction: float) -> bool:
        d = self.policy.audio_window(audio_quality(samples, speech_fraction, self.rate))
        self._counts[(d.step, d.action, d.reason)] += 1
        return d.action == "score"

    def keep_face(self, face: ScoredFace) -> bool:
        d = self.policy.face(face_quality(face))
        self._counts[(d.step, d.action, d.reason)] += 1
        return d.action == "score"

    def escalate(self, outcome: Outcome) -> RouteDecision:
        d = self.policy.escalate(outcome)
        self.file_decisions.append(d)
        return d

    def conclude(self, video: bool, faces: int, frames: int, audio: bool, windows: int, skipped: int) -> None:
        """Record why a present modality ended with nothing to judge (the per-item counts say what was seen)."""
        name = self.policy.name
        if video and faces == 0:
            self.file_decisions.append(RouteDecision(
                step="visual", action="skip", policy=name,
                reason=f"no usable face in {frames} sampled frames: visual score left out of the verdict"))
        if audio and windows == 0:
            self.file_decisions.append(RouteDecision(
                step="audio", action="skip", policy=name,
                reason=f"none of {skipped} audio windows had usable speech: audio score left out of the verdict"))

    def decisions(self) -> list[RouteDecision]:
        counted = [RouteDecision(step=s, action=a, reason=r, policy=self.policy.name, count=n)
                   for (s, a, r), n in sorted(self._counts.items())]
        return self.file_decisions + counted


def policy_for(settings: Settings) -> RoutingPolicy:
    """The policy the settings ask for (``FRAMESENTRY_ROUTE_POLICY``: ``default`` or ``llm``)."""
    if settings.route_policy == "llm":
        from framesentry.inference.llm_policy import LLMPolicy

        return LLMPolicy(settings)
    return DefaultPolicy(settings)
