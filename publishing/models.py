from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from catalog.choices import Environment
from impgateway.models import TimestampedModel
from impgateway.validators import validate_string_list

from .choices import AuthMode, DeploymentState, PublishStatus, RevisionAction


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
    current_revision = models.ForeignKey(
        "publishing.PublishRevision",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("current revision"),
        help_text=_("The revision agents apply while the publish is published."),
    )

    class Meta:
        ordering = ["product__name", "cluster__name", "environment"]
        verbose_name = _("product publish")
        verbose_name_plural = _("product publishes")
        permissions = [("publish_productpublish", _("Can publish, withdraw and roll back"))]
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
        """The readable part of this publish's Kubernetes object names; the translator adds the
        publish id (publishing.translation.naming.publish_base_name)."""
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


class PublishRevision(models.Model):
    """An immutable snapshot of everything a publish needs; agents only ever see revisions."""

    publish = models.ForeignKey(
        ProductPublish,
        on_delete=models.CASCADE,
        related_name="revisions",
        verbose_name=_("publish"),
    )
    number = models.PositiveIntegerField(_("number"))
    spec = models.JSONField(_("spec"))
    content_hash = models.CharField(_("content hash"), max_length=64)
    action = models.CharField(_("action"), max_length=10, choices=RevisionAction.choices)
    rolled_back_from = models.PositiveIntegerField(
        _("rolled back from revision"), null=True, blank=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["publish", "-number"]
        verbose_name = _("publish revision")
        verbose_name_plural = _("publish revisions")
        constraints = [
            models.UniqueConstraint(
                fields=["publish", "number"],
                name="publishing_revision_unique_number_per_publish",
                violation_error_message=_("number: this publish already has this revision."),
            ),
            models.CheckConstraint(
                condition=models.Q(number__gte=1),
                name="publishing_revision_number_positive",
                violation_error_message=_("number: revisions start at 1."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.publish} r{self.number}"


class DeploymentStatus(models.Model):
    """What the agents of one cluster report about one publish: state, objects, conditions.

    `publish_ref` keeps the publish id after the publish is deleted, so the cluster's agents
    are still told to remove its objects; the row goes when they report it removed.
    """

    publish = models.ForeignKey(
        ProductPublish,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deployments",
        verbose_name=_("publish"),
    )
    publish_ref = models.PositiveBigIntegerField(_("publish id"))
    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="deployments",
        verbose_name=_("cluster"),
    )
    state = models.CharField(
        _("state"), max_length=10, choices=DeploymentState.choices, default=DeploymentState.PENDING
    )
    applied_revision = models.PositiveIntegerField(_("applied revision"), null=True, blank=True)
    objects_summary = models.JSONField(
        _("objects"),
        default=dict,
        blank=True,
        help_text=_("Counts and names of objects created, configured, unchanged, pruned, failed."),
    )
    conditions = models.JSONField(_("conditions"), default=list, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    drift_events = models.JSONField(_("drift events"), default=list, blank=True)
    reported_at = models.DateTimeField(_("last report"), null=True, blank=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        ordering = ["cluster__name", "publish_ref"]
        verbose_name = _("deployment status")
        verbose_name_plural = _("deployment statuses")
        constraints = [
            models.UniqueConstraint(
                fields=["publish_ref", "cluster"],
                name="publishing_deployment_unique_publish_cluster",
                violation_error_message=_("cluster: this publish already has a status there."),
            ),
        ]

    def __str__(self) -> str:
        return f"publish #{self.publish_ref} on {self.cluster.name}: {self.state}"


class HostnameClaim(models.Model):
    """A hostname served on a cluster, and the one publish that serves it.

    Tenants share clusters: a hostname belongs to the publish that first published it there,
    and no other publish, of any tenant, may route requests for it. The unique constraint
    holds this under concurrent publishes; publishing claims, withdrawing and moving release.
    """

    cluster = models.ForeignKey(
        "clusters.Cluster",
        on_delete=models.CASCADE,
        related_name="hostname_claims",
        verbose_name=_("cluster"),
    )
    hostname = models.CharField(_("hostname"), max_length=253)
    publish = models.ForeignKey(
        ProductPublish,
        on_delete=models.CASCADE,
        related_name="hostname_claims",
        verbose_name=_("publish"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["cluster", "hostname"]
        verbose_name = _("hostname claim")
        verbose_name_plural = _("hostname claims")
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "hostname"],
                name="publishing_hostname_one_owner_per_cluster",
                violation_error_message=_("hostname: this hostname is taken on the cluster."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.hostname} on {self.cluster.name}"
