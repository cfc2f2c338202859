"""Celery tasks of the logical layer; each calls one service function."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="catalog.tasks.expire_api_keys", ignore_result=True)
def expire_api_keys() -> int:
    """Beat: expired keys and ended rotation grace periods leave the clusters."""
    return services.expire_api_keys()
