"""The physical layer: clusters, the agents running in them and their registration tokens."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel
from impgateway.validators import validate_dns_label, validate_dns_label_list

from .choices import AgentStatus, CloudProvider


class Cluster(TimestampedModel):
    """A Kubernetes cluster that publishes are deployed to, through the agents running in it."""

    name = models.CharField(
        _("name"),
        max_length=63,
        unique=True,
        validators=[validate_dns_label],
        help_text=_("e.g. cluster-kr-seoul"),
    )
    region = models.CharField(
        _("region"),
        max_length=63,
        validators=[validate_dns_label],
        help_text=_("Used in generated hostnames, e.g. kr-seoul."),
    )
    cloud_provider = models.CharField(
        _("cloud provider"), max_length=20, choices=CloudProvider.choices
    )
    namespace = models.CharField(
        _("namespace"),
        max_length=63,
        default="imp-gateway",
        validators=[validate_dns_label],
        help_text=_("Kubernetes namespace the agent writes gateway resources to."),
    )
    certificate_namespaces = models.JSONField(
        _("certificate namespaces"),
        default=list,
        blank=True,
        validators=[validate_dns_label_list],
        help_text=_(
            "Namespaces besides the cluster's own whose TLS Secrets gateway listeners may "
            "name, as namespace/name. Every tenant publishing to the cluster may use them; "
            "the agent needs the imp-gateway-agent-reference-grants role bound there."
        ),
    )
    description = models.TextField(_("description"), blank=True)
    capabilities = models.JSONField(
        _("capabilities"),
        default=dict,
        blank=True,
        help_text=_("Reported by the cluster's agents: Kubernetes version, gateway classes, CRDs."),
    )
    capabilities_updated_at = models.DateTimeField(
        _("capabilities updated at"), null=True, blank=True
    )
    desired_state_revision = models.PositiveBigIntegerField(
        _("desired-state revision"),
        default=0,
        help_text=_("Goes up by one with every committed change to what the cluster should run."),
    )

    class Meta:
        ordering = ["name"]
        verbose_name = _("cluster")
        verbose_name_plural = _("clusters")

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if not isinstance(self.capabilities, dict):
            raise ValidationError({"capabilities": _("Capabilities must be a JSON object.")})

    @property
    def gateway_classes(self) -> list[str] | None:
        """The gateway classes the agents reported, or None when nothing was reported yet."""
        classes = self.capabilities.get("gateway_classes") if self.capabilities else None
        return list(classes) if isinstance(classes, list) else None


class Agent(TimestampedModel):
    """An agent process in a cluster; a cluster may run several for high availability."""

    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, related_name="agents", verbose_name=_("cluster")
    )
    name = models.CharField(_("name"), max_length=253, help_text=_("Usually the agent's pod name."))
    status = models.CharField(
        _("status"), max_length=20, choices=AgentStatus.choices, default=AgentStatus.DISCONNECTED
    )
    enabled = models.BooleanField(
        _("enabled"), default=True, help_text=_("Disabling an agent revokes its tokens at once.")
    )
    version = models.CharField(_("version"), max_length=50, blank=True)
    last_seen_at = models.DateTimeField(_("last seen"), null=True, blank=True)
    token_generation = models.PositiveIntegerField(
        _("token generation"),
        default=1,
        help_text=_(
            "Access tokens carry the generation they were issued under; disabling the agent "
            "or registering it again moves it on, so every earlier token stops working."
        ),
    )

    class Meta:
        ordering = ["cluster__name", "name"]
        verbose_name = _("agent")
        verbose_name_plural = _("agents")
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "name"],
                name="clusters_agent_unique_name_per_cluster",
                violation_error_message=_(
                    "name: an agent with this name already exists in the cluster."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} @ {self.cluster.name}"


class RegistrationToken(models.Model):
    """A one-time secret an operator hands to a new agent; the agent exchanges it for a JWT.

    Only the SHA-256 of the secret is stored: the secret is shown once, when it is created.
    """

    cluster = models.ForeignKey(
        Cluster,
        on_delete=models.CASCADE,
        related_name="registration_tokens",
        verbose_name=_("cluster"),
    )
    token_hash = models.CharField(_("token hash"), max_length=64, unique=True, editable=False)
    description = models.CharField(
        _("description"), max_length=200, blank=True, help_text=_("e.g. who asked for it and why.")
    )
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    agent = models.ForeignKey(
        Agent,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("registered agent"),
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
        ordering = ["-created"]
        verbose_name = _("registration token")
        verbose_name_plural = _("registration tokens")

    def __str__(self) -> str:
        return f"registration token #{self.pk} for {self.cluster.name}"
