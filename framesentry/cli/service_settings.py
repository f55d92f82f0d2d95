"""Settings for the service commands, with invalid configuration reported as one clear line."""

from __future__ import annotations

from pydantic import ValidationError

from framesentry.config import Settings, get_settings
from framesentry.errors import ConfigError


def config_error(exc: ValidationError) -> ConfigError:
    """Settings validation errors as one ``ConfigError`` line."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg'].removeprefix('Value error, ')}"
        for err in exc.errors()
    )
    return ConfigError(f"invalid configuration: {problems}")


def load_settings() -> Settings:
    """``get_settings()``, turning validation errors into a ``ConfigError`` (printed without a traceback)."""
    try:
        return get_settings()
    except ValidationError as exc:
        raise config_error(exc) from exc
