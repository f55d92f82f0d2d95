"""The optional LLM-written summary: a rewording of the deterministic summary by an OpenAI-compatible model."""

from __future__ import annotations

from framesentry.config import Settings
from framesentry.errors import LLMError
from framesentry.inference.llm import chat

SYSTEM = (
    "You explain a deepfake detector's findings to a non-expert (journalist, moderator). Use only the facts "
    "given; do not add claims; keep every number as given; at most 150 words; mention the limits."
)


def llm_summary(settings: Settings, deterministic: str) -> tuple[str | None, str | None]:
    """(summary, error): ``(None, None)`` when no endpoint is configured, ``(None, reason)`` when it failed."""
    if not settings.llm_base_url:
        return None, None
    try:
        return chat(settings, SYSTEM, deterministic, max_tokens=400), None
    except LLMError as exc:
        return None, exc.message
