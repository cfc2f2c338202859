"""Enumerated values of the deployment layer."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class AuthMode(models.TextChoices):
    NONE = "none", _("None")
    API_KEY = "apikey", _("API key")
    OAUTH2 = "oauth2", _("OAuth2 (JWT)")


class PublishStatus(models.TextChoices):
    DRAFT = "DRAFT", _("Draft")
    PUBLISHED = "PUBLISHED", _("Published")
    WITHDRAWN = "WITHDRAWN", _("Withdrawn")


class RevisionAction(models.TextChoices):
    PUBLISH = "publish", _("Publish")
    ROLLBACK = "rollback", _("Roll back")


class DeploymentState(models.TextChoices):
    PENDING = "Pending", _("Pending")
    APPLYING = "Applying", _("Applying")
    READY = "Ready", _("Ready")
    DEGRADED = "Degraded", _("Degraded")
    FAILED = "Failed", _("Failed")
