from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel

from ..choices import APIKeyStatus, SubscriptionStatus


class APIKey(TimestampedModel):
    """A subscription's API key: shown once, stored as a lookup hash and encrypted for the
    gateways, delivered only to the clusters that serve the subscribed product."""

    subscription = models.ForeignKey(
        "catalog.Subscription",
        on_delete=models.CASCADE,
        related_name="api_keys",
        verbose_name=_("subscription"),
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(
        _("prefix"),
        max_length=16,
        db_index=True,
        help_text=_("The first characters of the key, to recognise it; not secret."),
    )
    secret_hash = models.CharField(_("secret hash"), max_length=64, editable=False)
    secret_encrypted = models.TextField(
        _("encrypted secret"),
        blank=True,
        editable=False,
        help_text=_("Empty once the key is revoked or expired: nothing is left to deliver."),
    )
    previous_secret_hash = models.CharField(
        _("previous secret hash"), max_length=64, blank=True, editable=False
    )
    previous_secret_encrypted = models.TextField(
        _("encrypted previous secret"), blank=True, editable=False
    )
    previous_valid_until = models.DateTimeField(
        _("previous secret valid until"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("After a rotation the old secret keeps working until then."),
    )
    last_rotated = models.DateTimeField(_("last rotated"), null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )

    class Meta:
        ordering = ["subscription", "name", "pk"]
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        constraints = [
            models.UniqueConstraint(
                fields=["secret_hash"],
                name="catalog_apikey_unique_secret",
                violation_error_message=_("secret_hash: another API key has this secret."),
            ),
            models.UniqueConstraint(
                fields=["previous_secret_hash"],
                condition=~models.Q(previous_secret_hash=""),
                name="catalog_apikey_unique_previous_secret",
                violation_error_message=_(
                    "previous_secret_hash: another API key has this previous secret."
                ),
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(previous_secret_encrypted="", previous_valid_until__isnull=True)
                    | (
                        ~models.Q(previous_secret_encrypted="")
                        & models.Q(previous_valid_until__isnull=False)
                    )
                ),
                name="catalog_apikey_previous_secret_has_deadline",
                violation_error_message=_(
                    "previous_valid_until: a previous secret needs the time it stops working."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def status_at(self, now: datetime) -> str:
        """An APIKeyStatus at `now`: revoked, expired, pending (its subscription waits for
        approval: no cluster serves it yet) or active. Reads the subscription's status
        (select_related("subscription") in lists)."""
        if self.revoked_at is not None:
            return APIKeyStatus.REVOKED
        if self.expires_at is not None and self.expires_at <= now:
            return APIKeyStatus.EXPIRED
        subscription_status = self.subscription.status
        if subscription_status == SubscriptionStatus.PENDING:
            return APIKeyStatus.PENDING
        if subscription_status != SubscriptionStatus.ACTIVE:
            return APIKeyStatus.REVOKED  # a rejected or cancelled subscription's keys never work
        return APIKeyStatus.ACTIVE
