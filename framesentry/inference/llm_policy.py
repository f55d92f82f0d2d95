"""A routing policy that asks an OpenAI-compatible LLM for the file-level decisions.

Same interface as ``DefaultPolicy``. Only ``modalities`` and ``escalate`` are delegated (once per file);
per-window and per-face gates stay with the deterministic policy, so an LLM is never on the hot path, and
a live stream never uses this policy. Any failure or malformed answer falls back to the default decision,
and the recorded reason says so.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from framesentry.config import Settings
from framesentry.errors import LLMError
from framesentry.inference.llm import chat
from framesentry.inference.result import RouteDecision
from framesentry.inference.routing import AudioQuality, DefaultPolicy, FaceQuality, MediaFacts, Outcome

SYSTEM = (
    "You route a deepfake detector. Answer with one JSON object only: "
    '{"action": <one of the allowed actions>, "reason": <short sentence>}.'
)


class LLMPolicy:
    """File-level routing by an LLM, with the default policy as gatekeeper and fallback."""

    name = "llm"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.fallback = DefaultPolicy(settings)

    def _ask(self, step: str, allowed: list[str], facts: dict[str, object], default: RouteDecision) -> RouteDecision:
        prompt = json.dumps({"step": step, "allowed_actions": allowed, "facts": facts})
        try:
            answer = json.loads(chat(self.settings, SYSTEM, prompt, max_tokens=120))
            action, reason = str(answer["action"]), str(answer["reason"])
        except (LLMError, ValueError, KeyError, TypeError) as exc:
            return default.model_copy(update={"reason": f"{default.reason} (LLM fallback: {str(exc)[:120]})"})
        if action not in allowed:
            return default.model_copy(update={"reason": f"{default.reason} (LLM answered {action!r}, not allowed)"})
        return RouteDecision(step=step, action=action, reason=reason, policy=self.name)

    def audio_window(self, q: AudioQuality) -> RouteDecision:
        return self.fallback.audio_window(q)

    def face(self, q: FaceQuality) -> RouteDecision:
        return self.fallback.face(q)

    def modalities(self, facts: MediaFacts) -> list[RouteDecision]:
        defaults = {d.step: d for d in self.fallback.modalities(facts)}
        out = []
        for step, present in (("visual", facts.has_video), ("audio", facts.has_audio)):
            # A missing track cannot be analysed whatever the LLM says.
            out.append(self._ask(step, ["run", "skip"], asdict(facts), defaults[step]) if present else defaults[step])
        out.append(defaults["combine"])
        return out

    def escalate(self, outcome: Outcome) -> RouteDecision:
        return self._ask("escalate", ["deep_pass", "explain_only"], asdict(outcome), self.fallback.escalate(outcome))

