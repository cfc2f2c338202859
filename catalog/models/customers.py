from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel
from impgateway.validators import validate_dns_label

from ..choices import Environment, SubscriptionStatus


class Customer(TimestampedModel):
    """An organisation that subscribes to a tenant's products and calls them."""

    tenant = models.ForeignKey(
        "catalog.Tenant",
        on_delete=models.PROTECT,
        related_name="customers",
        verbose_name=_("tenant"),
        help_text=_("The provider whose products this customer uses."),
    )
    name = models.CharField(_("name"), max_length=100)
    slug = models.CharField(_("slug"), max_length=40, validators=[validate_dns_label])
    contact_email = models.EmailField(_("contact email"), blank=True)

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "slug"],
                name="catalog_customer_unique_slug_per_tenant",
                violation_error_message=_(
                    "slug: a customer with this slug already exists in the tenant."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Subscription(TimestampedModel):
    """A customer's use of a product in one environment; API keys hang off it."""

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="subscriptions", verbose_name=_("customer")
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.PROTECT,
        related_name="subscriptions",
        verbose_name=_("product"),
    )
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=SubscriptionStatus.choices,
        default=SubscriptionStatus.PENDING,
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("requested by"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("approved or rejected by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        ordering = ["customer__name", "product__name", "environment"]
        verbose_name = _("subscription")
        verbose_name_plural = _("subscriptions")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "product", "environment"],
                condition=models.Q(status__in=["pending", "active"]),
                name="catalog_subscription_one_open_per_product_environment",
                violation_error_message=_(
                    "environment: the customer already has an open subscription to this "
                    "product in this environment."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer} → {self.product} ({self.environment})"
