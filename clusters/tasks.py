"""Celery tasks of the physical layer; each calls one service function."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger(__name__)


@shared_task(name="clusters.tasks.mark_silent_agents_disconnected", ignore_result=True)
def mark_silent_agents_disconnected() -> int:
    """Beat: agents unheard of for AGENT_DISCONNECT_AFTER seconds become disconnected."""
    count = services.mark_silent_agents_disconnected()
    if count:
        logger.info("Marked %d silent agents disconnected", count)
    return count


@shared_task(name="clusters.tasks.purge_registration_tokens", ignore_result=True)
def purge_registration_tokens() -> int:
    """Beat: forget registration tokens that expired more than a week ago."""
    return services.purge_registration_tokens()
