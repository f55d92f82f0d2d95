"""Webhook delivery attempts: one row per HTTP attempt, grouped by ``delivery_id`` (one event)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from framesentry.store.models import WebhookDelivery


def record_attempt(
    session: Session,
    *,
    analysis_id: uuid.UUID,
    delivery_id: uuid.UUID,
    event: str,
    url: str,
    attempt: int,
    status_code: int | None,
    error: str | None,
    duration_ms: float,
    succeeded: bool,
) -> WebhookDelivery:
    row = WebhookDelivery(
        analysis_id=analysis_id,
        delivery_id=delivery_id,
        event=event,
        url=url,
        attempt=attempt,
        status_code=status_code,
        error=error,
        duration_ms=round(duration_ms, 2),
        succeeded=succeeded,
    )
    session.add(row)
    session.flush()
    return row


def attempts_for(session: Session, analysis_id: uuid.UUID) -> list[WebhookDelivery]:
    return list(
        session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.analysis_id == analysis_id)
            .order_by(WebhookDelivery.created_at, WebhookDelivery.id)
        )
    )


def delivered(session: Session, delivery_id: uuid.UUID) -> bool:
    """True once any attempt of this event succeeded (a redelivered task must not send it twice)."""
    return (
        session.scalars(
            select(WebhookDelivery.id).where(
                WebhookDelivery.delivery_id == delivery_id, WebhookDelivery.succeeded.is_(True)
            )
        ).first()
        is not None
    )
