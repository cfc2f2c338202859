from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.choices import Environment
from impgateway.models import TimestampedModel
from impgateway.validators import validate_string_list

from .choices import AuthMode, PublishStatus


def generated_hostname(product_slug: str, environment: str, region: str) -> str:
    """`{product}.{environment}.{cluster-region}.api.{IMPGATEWAY_DOMAIN}`."""
    return f"{product_slug}.{environment}.{region}.api.{settings.IMPGATEWAY_DOMAIN}"


class ProductPublish(TimestampedModel):
    """A product's services exposed through a gateway template on one cluster and environment."""

    tenant = models.ForeignKey(
        "catalog.Tenant",
        on_delete=models.PROTECT,
        related_name="publishes",
        verbose_name=_("tenant"),
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.PROTECT,
        related_name="publishes",
        verbose_name=_("product"),
    )
    api_services = models.ManyToManyField(
        "catalog.APIService", related_name="publishes", verbose_name=_("API services")
    )
    gateway = models.ForeignKey(
        "catalog.Gateway",
        on_delete=models.PROTECT,
        related_name="publishes",
        verbose_name=_("gateway"),
    )
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.PROTECT,
        related_name="publishes",
        verbose_name=_("cluster"),
    )
    environment = models.CharField(_("environment"), max_length=10, choices=Environment.choices)
    auth_mode = models.CharField(
        _("auth mode"), max_length=10, choices=AuthMode.choices, default=AuthMode.NONE
    )
    status = models.CharField(
        _("status"), max_length=10, choices=PublishStatus.choices, default=PublishStatus.DRAFT
    )
    oauth2_issuer = models.URLField(
        _("OAuth2 issuer"), blank=True, help_text=_("Token issuer (iss) for auth mode oauth2.")
    )
    oauth2_jwks_uri = models.URLField(
        _("OAuth2 JWKS URI"), blank=True, help_text=_("Where gateways fetch the signing keys.")
    )
    oauth2_audiences = models.JSONField(
        _("OAuth2 audiences"), default=list, blank=True, validators=[validate_string_list]
    )

    class Meta:
        ordering = ["product__name", "cluster__name", "environment"]
        verbose_name = _("product publish")
        verbose_name_plural = _("product publishes")
        constraints = [
            models.UniqueConstraint(
                fields=["product", "cluster", "environment"],
                name="publishing_publish_unique_product_cluster_environment",
                violation_error_message=_(
                    "environment: this product already has a publish for "
                    "this cluster and environment."
                ),
            ),
            models.CheckConstraint(
                condition=~models.Q(auth_mode="oauth2")
                | (~models.Q(oauth2_issuer="") & ~models.Q(oauth2_jwks_uri="")),
                name="publishing_publish_oauth2_needs_issuer",
                violation_error_message=_(
                    "oauth2_issuer: auth mode oauth2 needs an issuer and a JWKS URI."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.product.slug} → {self.cluster.name} ({self.environment})"

    @property
    def hostnames(self) -> list[str]:
        return [generated_hostname(self.product.slug, self.environment, self.cluster.region)]

    @property
    def resource_name(self) -> str:
        """Base name of the Kubernetes objects of this publish: unique per cluster."""
        return f"{self.product.slug}-{self.environment}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        tenant_id = self.tenant_id
        if self.product_id and tenant_id and self.product.tenant_id != tenant_id:
            errors["product"] = _("The product belongs to another tenant.")
        if self.gateway_id and tenant_id and self.gateway.tenant_id != tenant_id:
            errors["gateway"] = _("The gateway belongs to another tenant.")
        if self.auth_mode == AuthMode.OAUTH2:
            if not self.oauth2_issuer:
                errors["oauth2_issuer"] = _("Auth mode oauth2 needs the token issuer.")
            if not self.oauth2_jwks_uri:
                errors["oauth2_jwks_uri"] = _("Auth mode oauth2 needs the JWKS URI.")
        if errors:
            raise ValidationError(errors)

    def clean_api_services(self, services) -> None:
        """The M2M rule that clean() cannot see before save: services of the publish's tenant."""
        foreign = [s.name for s in services if s.tenant_id != self.tenant_id]
        if foreign:
            raise ValidationError(
                {
                    "api_services": _("These API services belong to another tenant: %(names)s.")
                    % {"names": ", ".join(sorted(foreign))}
                }
            )
        if not services:
            raise ValidationError({"api_services": _("Choose at least one API service.")})
