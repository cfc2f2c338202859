import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel
from impgateway.validators import (
    validate_dns_label,
    validate_hostname,
    validate_kubernetes_labels,
)

from ..choices import GatewayClass, ListenerProtocol, TLSMode

CERTIFICATE_REF_RE = re.compile(
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?/)?[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
)


class Gateway(TimestampedModel):
    """A gateway template: which gateway implementation and which listeners a publish gets."""

    tenant = models.ForeignKey(
        "catalog.Tenant",
        on_delete=models.PROTECT,
        related_name="gateways",
        verbose_name=_("tenant"),
    )
    name = models.CharField(_("name"), max_length=50, validators=[validate_dns_label])
    gateway_class = models.CharField(
        _("gateway class"),
        max_length=20,
        choices=GatewayClass.choices,
        default=GatewayClass.ENVOY_GATEWAY,
    )
    labels = models.JSONField(
        _("labels"), default=dict, blank=True, validators=[validate_kubernetes_labels]
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = _("gateway")
        verbose_name_plural = _("gateways")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="catalog_gateway_unique_name_per_tenant",
                violation_error_message=_(
                    "name: a gateway with this name already exists in the tenant."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_gateway_class_display()})"


class Listener(TimestampedModel):
    """A port a gateway listens on, with its protocol and TLS settings."""

    gateway = models.ForeignKey(
        Gateway, on_delete=models.CASCADE, related_name="listeners", verbose_name=_("gateway")
    )
    name = models.CharField(_("name"), max_length=50, validators=[validate_dns_label])
    port = models.PositiveIntegerField(_("port"))
    protocol = models.CharField(_("protocol"), max_length=10, choices=ListenerProtocol.choices)
    hostname = models.CharField(
        _("hostname"),
        max_length=253,
        blank=True,
        validators=[validate_hostname],
        help_text=_("Optional; empty accepts the publish's generated hostnames."),
    )
    tls_mode = models.CharField(_("TLS mode"), max_length=20, choices=TLSMode.choices, blank=True)
    certificate_ref = models.CharField(
        _("certificate ref"),
        max_length=253,
        blank=True,
        help_text=_("Name of the TLS Secret, or namespace/name."),
    )

    class Meta:
        ordering = ["gateway", "port", "name"]
        verbose_name = _("listener")
        verbose_name_plural = _("listeners")
        constraints = [
            models.UniqueConstraint(
                fields=["gateway", "name"],
                name="catalog_listener_unique_name_per_gateway",
                violation_error_message=_(
                    "name: a listener with this name already exists in the gateway."
                ),
            ),
            models.UniqueConstraint(
                fields=["gateway", "port"],
                name="catalog_listener_unique_port_per_gateway",
                violation_error_message=_("port: another listener of the gateway uses this port."),
            ),
            models.CheckConstraint(
                condition=models.Q(port__gte=1, port__lte=65535),
                name="catalog_listener_port_range",
                violation_error_message=_("port: must be between 1 and 65535."),
            ),
            models.CheckConstraint(
                condition=~models.Q(tls_mode="Terminate", certificate_ref=""),
                name="catalog_listener_terminate_needs_certificate",
                violation_error_message=_(
                    "certificate_ref: TLS mode Terminate needs a certificate ref."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.protocol}/{self.port}"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        label = self.name or "?"
        if self.port is not None and not 1 <= self.port <= 65535:
            errors["port"] = _("Port must be between 1 and 65535.")
        if self.protocol == ListenerProtocol.HTTPS and self.tls_mode != TLSMode.TERMINATE:
            errors["tls_mode"] = _("listener '%(name)s': HTTPS needs TLS mode Terminate.") % {
                "name": label
            }
        if self.protocol == ListenerProtocol.TLS and not self.tls_mode:
            errors["tls_mode"] = _("listener '%(name)s': TLS needs a TLS mode.") % {"name": label}
        if self.protocol == ListenerProtocol.GRPC and self.tls_mode == TLSMode.PASSTHROUGH:
            errors["tls_mode"] = _(
                "listener '%(name)s': gRPC listeners terminate TLS or use none."
            ) % {"name": label}
        if self.protocol in (ListenerProtocol.HTTP, ListenerProtocol.TCP) and (
            self.tls_mode or self.certificate_ref
        ):
            errors["tls_mode"] = _(
                "listener '%(name)s': %(protocol)s listeners take no TLS settings."
            ) % {"name": label, "protocol": self.protocol}
        if self.tls_mode == TLSMode.TERMINATE and not self.certificate_ref:
            errors["certificate_ref"] = _(
                "listener '%(name)s': TLS mode Terminate needs a certificate ref."
            ) % {"name": label}
        if self.tls_mode == TLSMode.PASSTHROUGH and self.certificate_ref:
            errors["certificate_ref"] = _(
                "listener '%(name)s': TLS passthrough takes no certificate."
            ) % {"name": label}
        if self.certificate_ref and not CERTIFICATE_REF_RE.match(self.certificate_ref):
            errors["certificate_ref"] = _(
                "listener '%(name)s': the certificate ref must be a Secret name or namespace/name."
            ) % {"name": label}
        if errors:
            raise ValidationError(errors)
