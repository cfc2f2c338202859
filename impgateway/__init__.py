"""Imp-Gateway project package: settings, URLs, the Celery app, identity and access."""

from .celery import app as celery_app

__all__ = ("celery_app",)
