from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel
from impgateway.validators import validate_dns_label


class Tenant(TimestampedModel):
    """An organisation: the top unit of isolation. Everything in the catalog belongs to one."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.CharField(
        _("slug"),
        max_length=63,
        unique=True,
        validators=[validate_dns_label],
        help_text=_("DNS label used in Kubernetes names, e.g. 'imprun'."),
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name
