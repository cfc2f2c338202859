"""Enumerated values of the physical layer."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class CloudProvider(models.TextChoices):
    AWS = "aws", _("AWS")
    GCP = "gcp", _("Google Cloud")
    AZURE = "azure", _("Azure")
    ON_PREMISE = "on-premise", _("On-premise")


class AgentStatus(models.TextChoices):
    CONNECTED = "connected", _("Connected")
    DISCONNECTED = "disconnected", _("Disconnected")
