"""The router: per-window and per-face gates, file-level decisions, escalation, recorded in the result; the
LLM policy against a loopback OpenAI-compatible server, with its fallbacks. Media is made here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from llm_helpers import llm_server

from framesentry.config import Settings
from framesentry.inference.detectors import Detectors
from framesentry.inference.faces import FaceBox, crop_sharpness
from framesentry.inference.llm_policy import LLMPolicy
from framesentry.inference.pipeline import analyze_file
from framesentry.inference.result import AnalysisResult
from framesentry.inference.routing import (
    DefaultPolicy,
    MediaFacts,
    Outcome,
    Router,
    audio_quality,
    face_quality,
    policy_for,
)
from framesentry.inference.scoring import ScoredFace


@pytest.fixture(scope="module")
def detectors(settings: Settings) -> Detectors:
    return Detectors(settings)


def _decisions(result: AnalysisResult, step: str) -> list[tuple[str, str, int]]:
    return [(d.action, d.reason, d.count) for d in result.routing if d.step == step]


def test_no_face_clip_skips_visual_with_its_reason(clip_no_face: Path, settings: Settings,
                                                   detectors: Detectors) -> None:
    result = analyze_file(clip_no_face, settings, detectors)
    assert result.visual.status == "no_face"
    [(action, reason, _)] = _decisions(result, "visual")[1:]  # [0] is "run: video track present"
    assert action == "skip" and "no usable face" in reason and "left out of the verdict" in reason
    assert _decisions(result, "visual")[0][0] == "run"
    assert not _decisions(result, "face")  # no face was ever offered to the gate
    assert result.audio.status == "ok"  # the speech is still judged


def test_silent_audio_is_skipped_window_by_window(tmp_path: Path, real_faces: list[np.ndarray],
                                                  settings: Settings, detectors: Detectors) -> None:
    from framesentry.lab.samples import write_clip

    rng = np.random.default_rng(0)
    hiss = (rng.normal(0, 1e-4, 16000 * 6)).astype(np.float32)  # a silent room: -80 dBFS noise
    clip = write_clip(tmp_path / "silent.mp4", duration_s=6.0, faces=[(real_faces[0], (240, 70, 170))], audio=hiss)
    result = analyze_file(clip, settings, detectors)
    assert result.audio.status == "no_speech" and result.audio.p_fake is None
    windows = _decisions(result, "audio_window")
    assert windows and all(a == "skip" and "too little speech" in r for a, r, _ in windows)
    assert sum(n for _, _, n in windows) == result.audio.windows_skipped >= 1
    assert any(a == "skip" and "left out of the verdict" in r for a, r, _ in _decisions(result, "audio"))
    assert result.visual.status == "ok" and _decisions(result, "face")[0][0] == "score"


def test_audio_gate_measures_snr_and_clipping(speech: np.ndarray, settings: Settings) -> None:
    policy = DefaultPolicy(settings)
    window = speech[:64600]
    clean = audio_quality(window, 1.0)
    assert clean.snr_db > 15 and clean.clipped_fraction == 0
    assert policy.audio_window(clean).action == "score"
    rng = np.random.default_rng(1)
    noisy = (window + rng.normal(0, 2 * window.std(), window.size)).astype(np.float32)
    q = audio_quality(noisy, 1.0)
    assert q.snr_db < settings.route_min_snr_db
    assert policy.audio_window(q).reason.startswith("too noisy")
    clipped = np.clip(window * 50, -1, 1).astype(np.float32)
    assert policy.audio_window(audio_quality(clipped, 1.0)).reason.startswith("clipped")


def test_face_gate_rejects_small_and_blurred_faces(real_faces: list[np.ndarray], settings: Settings) -> None:
    from PIL import Image, ImageFilter

    def scored(crop: np.ndarray, width: int, height: int) -> ScoredFace:  # as the core returns it
        return ScoredFace(FaceBox(0, 0, width, height, 0.99), 0.5, crop_sharpness(crop))

    policy = DefaultPolicy(settings)
    sharp = real_faces[0]
    assert policy.face(face_quality(scored(sharp, 150, 170))).action == "score"
    assert policy.face(face_quality(scored(sharp, 30, 40))).reason.startswith("face too small")
    blurred = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(5)))
    assert policy.face(face_quality(scored(blurred, 150, 170))).reason.startswith("face too blurred")


def test_uncertain_results_escalate_to_the_deep_pass(clip_faces_speech: Path, settings: Settings,
                                                     detectors: Detectors) -> None:
    policy = DefaultPolicy(settings)
    assert policy.escalate(Outcome("uncertain", 0.5, "ok", "ok")).action == "deep_pass"
    assert policy.escalate(Outcome("fake", 0.9, "ok", "ok")).action == "explain_only"
    # Thresholds so wide that any real clip lands between them: the analysis records the escalation.
    wide = settings.model_copy(update={"real_threshold": 0.0, "fake_threshold": 1.0})
    result = analyze_file(clip_faces_speech, wide, detectors)
    assert result.verdict.value == "uncertain"
    [(action, reason, _)] = _decisions(result, "escalate")
    assert action == "deep_pass" and "test-time augmentation" in reason
    [(combine, why, _)] = _decisions(result, "combine")
    assert combine == "log_odds" and "prior (0.5" in why  # the rule fusion.fuse_modalities applies


def test_llm_policy_decides_file_level_steps_over_loopback(settings: Settings) -> None:
    def reply(body: dict[str, object]) -> str:
        asked = json.loads(str(body["messages"][1]["content"]))  # type: ignore[index]
        if asked["step"] == "escalate":
            return json.dumps({"action": "deep_pass", "reason": "close call on the faces"})
        return json.dumps({"action": "skip" if asked["step"] == "audio" else "run", "reason": "music bed"})

    with llm_server(reply) as llm:
        cfg = settings.model_copy(update={"llm_base_url": llm.base_url, "route_policy": "llm", "llm_model": "tiny"})
        policy = policy_for(cfg)
        assert isinstance(policy, LLMPolicy)
        router = Router(policy)
        plan = router.plan(MediaFacts(True, True, 12.0))
        assert plan == {"visual": "run", "audio": "skip", "combine": "log_odds"}
        d = router.escalate(Outcome("real", 0.1, "ok", "ok"))
        assert (d.action, d.reason, d.policy) == ("deep_pass", "close call on the faces", "llm")
        assert len(llm.requests) == 3 and all(r["path"] == "/v1/chat/completions" for r in llm.requests)
        assert {r["model"] for r in llm.requests} == {"tiny"} and all(r["temperature"] == 0 for r in llm.requests)
        # Hot-path gates never call the LLM.
        router.keep_audio(np.zeros(64600, np.float32), 0.0)
        assert len(llm.requests) == 3


def test_llm_policy_falls_back_to_the_default_on_bad_answers(settings: Settings) -> None:
    with llm_server(lambda _body: "not json at all") as llm:
        policy = LLMPolicy(settings.model_copy(update={"llm_base_url": llm.base_url}))
        d = policy.escalate(Outcome("uncertain", 0.5, "ok", "ok"))
        assert d.action == "deep_pass" and "LLM fallback" in d.reason and d.policy == "default"
    with llm_server(lambda _body: json.dumps({"action": "delete_everything", "reason": "x"})) as llm:
        policy = LLMPolicy(settings.model_copy(update={"llm_base_url": llm.base_url}))
        d = policy.escalate(Outcome("fake", 0.9, "ok", "ok"))
        assert d.action == "explain_only" and "not allowed" in d.reason
    unreachable = LLMPolicy(settings.model_copy(update={"llm_base_url": "http://127.0.0.1:9/v1", "llm_timeout_s": 2}))
    [visual, audio, _] = unreachable.modalities(MediaFacts(True, False, 3.0))
    assert visual.action == "run" and "LLM fallback" in visual.reason
    assert audio.action == "skip" and audio.reason == "no audio track"  # a missing track is never asked about
