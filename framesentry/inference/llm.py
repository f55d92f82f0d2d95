"""A minimal client for any OpenAI-compatible chat endpoint (``POST {base}/chat/completions``), via httpx.

Optional everywhere: used only when ``FRAMESENTRY_LLM_BASE_URL`` is set, by the LLM summary and the LLM
routing policy. Failures raise ``LLMError`` so callers can fall back to their deterministic path.
"""

from __future__ import annotations

from framesentry.config import Settings
from framesentry.errors import LLMError


def chat(settings: Settings, system: str, user: str, max_tokens: int = 400) -> str:
    """The assistant's reply text, at temperature 0."""
    import httpx

    if not settings.llm_base_url:
        raise LLMError("no LLM endpoint configured (FRAMESENTRY_LLM_BASE_URL)")
    headers = {}
    if settings.llm_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.llm_api_key.get_secret_value()}"
    body = {
        "model": settings.llm_model,
        "temperature": 0,
        "max_tokens": max_tokens,
        "messages": [{"role": "system", "content": system}, {"role": "user", "content": user}],
    }
    url = settings.llm_base_url.rstrip("/") + "/chat/completions"
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=settings.llm_timeout_s)
        response.raise_for_status()
        return str(response.json()["choices"][0]["message"]["content"]).strip()
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise LLMError(f"LLM endpoint {url} failed: {exc}") from exc
