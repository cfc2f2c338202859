from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel
from impgateway.validators import validate_dns_label, validate_string_list


class Product(TimestampedModel):
    """Catalog metadata of an API product that customers subscribe to."""

    tenant = models.ForeignKey(
        "catalog.Tenant",
        on_delete=models.PROTECT,
        related_name="products",
        verbose_name=_("tenant"),
    )
    name = models.CharField(_("name"), max_length=100)
    slug = models.CharField(
        _("slug"),
        max_length=40,
        validators=[validate_dns_label],
        help_text=_(
            "First label of the generated hostnames, e.g. 'payment-api'; unique across all "
            "tenants."
        ),
    )
    version = models.CharField(_("version"), max_length=30, default="1.0")
    description = models.TextField(_("description"), blank=True)
    categories = models.JSONField(
        _("categories"), default=list, blank=True, validators=[validate_string_list]
    )
    tags = models.JSONField(_("tags"), default=list, blank=True, validators=[validate_string_list])
    documentation_url = models.URLField(_("documentation URL"), blank=True)
    requires_approval = models.BooleanField(
        _("subscriptions need approval"),
        default=False,
        help_text=_("When set, a provider approves each subscription before keys work."),
    )

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = _("product")
        verbose_name_plural = _("products")
        constraints = [
            # The slug is the first label of the product's public hostnames, which tenants
            # share clusters and domains for: one slug, one owner, across tenants.
            models.UniqueConstraint(
                fields=["slug"],
                name="catalog_product_unique_slug",
                violation_error_message=_(
                    "slug: this slug is taken. Product slugs name public hostnames and are "
                    "unique across all tenants; choose another."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"
