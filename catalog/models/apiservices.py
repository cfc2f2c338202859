import re

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from impgateway.models import TimestampedModel
from impgateway.validators import (
    header_value_error,
    regex_error,
    validate_dns_label,
    validate_endpoint,
)

from ..choices import (
    APIServiceProtocol,
    APIServiceStatus,
    Environment,
    HeaderMatchType,
    HTTPMethod,
    LoadBalancing,
    PathMatchType,
    PolicyKind,
)
from ..policies import clean_policy_config, valid_header_name

GRPC_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*(/[A-Za-z_][A-Za-z0-9_]*)?$")
HTTP_PATH_RE = re.compile(r"^/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$")


class APIService(TimestampedModel):
    """The blueprint of an API: its routes, backends and policies, with no gateway or cluster."""

    tenant = models.ForeignKey(
        "catalog.Tenant",
        on_delete=models.PROTECT,
        related_name="api_services",
        verbose_name=_("tenant"),
    )
    name = models.CharField(
        _("name"),
        max_length=50,
        validators=[validate_dns_label],
        help_text=_("DNS label used in Kubernetes names, e.g. 'payment-service'."),
    )
    version = models.CharField(_("version"), max_length=30, default="v1")
    status = models.CharField(
        _("status"), max_length=20, choices=APIServiceStatus.choices, default=APIServiceStatus.DRAFT
    )
    protocol = models.CharField(
        _("protocol"),
        max_length=10,
        choices=APIServiceProtocol.choices,
        default=APIServiceProtocol.HTTP,
    )
    description = models.TextField(_("description"), blank=True)

    class Meta:
        ordering = ["tenant__name", "name"]
        verbose_name = _("API service")
        verbose_name_plural = _("API services")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "name"],
                name="catalog_apiservice_unique_name_per_tenant",
                violation_error_message=_(
                    "name: an API service with this name already exists in the tenant."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.version})"


class Backend(TimestampedModel):
    """An upstream of an API service: endpoints, balancing, health checks, timeouts, retries."""

    service = models.ForeignKey(
        APIService, on_delete=models.CASCADE, related_name="backends", verbose_name=_("API service")
    )
    name = models.CharField(_("name"), max_length=50, validators=[validate_dns_label])
    endpoints = models.JSONField(
        _("endpoints"),
        default=list,
        help_text=_('host:port or http(s) URLs, e.g. ["payments.internal:8080"].'),
    )
    load_balancing = models.CharField(
        _("load balancing"),
        max_length=20,
        choices=LoadBalancing.choices,
        default=LoadBalancing.ROUND_ROBIN,
    )
    timeout_seconds = models.PositiveIntegerField(_("request timeout (s)"), null=True, blank=True)
    retry_attempts = models.PositiveSmallIntegerField(_("retry attempts"), default=0)
    health_check_path = models.CharField(
        _("health check path"), max_length=200, blank=True, help_text=_("e.g. /healthz")
    )
    health_check_interval_seconds = models.PositiveIntegerField(
        _("health check interval (s)"), default=10
    )

    class Meta:
        ordering = ["service", "name"]
        verbose_name = _("backend")
        verbose_name_plural = _("backends")
        constraints = [
            models.UniqueConstraint(
                fields=["service", "name"],
                name="catalog_backend_unique_name_per_service",
                violation_error_message=_(
                    "name: a backend with this name already exists in the service."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__isnull=True) | models.Q(timeout_seconds__gte=1),
                name="catalog_backend_timeout_positive",
                violation_error_message=_("timeout_seconds: must be at least 1 second."),
            ),
            models.CheckConstraint(
                condition=models.Q(retry_attempts__lte=10),
                name="catalog_backend_retry_attempts_range",
                violation_error_message=_("retry_attempts: must be between 0 and 10."),
            ),
            models.CheckConstraint(
                condition=models.Q(health_check_interval_seconds__gte=1),
                name="catalog_backend_health_interval_positive",
                violation_error_message=_("health_check_interval_seconds: must be at least 1."),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if not isinstance(self.endpoints, list) or not self.endpoints:
            errors["endpoints"] = _("Give at least one endpoint as a list of host:port or URLs.")
        else:
            messages = []
            for endpoint in self.endpoints:
                if not isinstance(endpoint, str):
                    messages.append(_("Each endpoint must be a string."))
                    continue
                try:
                    validate_endpoint(endpoint)
                except ValidationError as exc:
                    messages.extend(exc.messages)
            if messages:
                errors["endpoints"] = messages
        if self.health_check_path and not self.health_check_path.startswith("/"):
            errors["health_check_path"] = _("The health check path must start with '/'.")
        if errors:
            raise ValidationError(errors)


class Route(TimestampedModel):
    """A routing rule of an API service: path match, methods, header matches and a backend."""

    service = models.ForeignKey(
        APIService, on_delete=models.CASCADE, related_name="routes", verbose_name=_("API service")
    )
    name = models.CharField(_("name"), max_length=50, validators=[validate_dns_label])
    path = models.CharField(
        _("path"),
        max_length=500,
        help_text=_(
            "e.g. /v1/payments; for gRPC services 'package.Service' or 'package.Service/Method'."
        ),
    )
    match_type = models.CharField(
        _("match type"),
        max_length=20,
        choices=PathMatchType.choices,
        default=PathMatchType.PATH_PREFIX,
    )
    methods = models.JSONField(
        _("methods"), default=list, blank=True, help_text=_('e.g. ["GET", "POST"]; empty: any.')
    )
    header_matches = models.JSONField(
        _("header matches"),
        default=list,
        blank=True,
        help_text=_('e.g. [{"name": "x-version", "value": "2", "type": "Exact"}]'),
    )
    backend = models.ForeignKey(
        Backend,
        on_delete=models.PROTECT,
        related_name="routes",
        null=True,
        blank=True,
        verbose_name=_("backend"),
        help_text=_("Leave empty to use the service's first backend."),
    )
    rewrite_path_prefix = models.CharField(
        _("rewrite path prefix"),
        max_length=200,
        blank=True,
        help_text=_("Replace the matched prefix with this path before forwarding."),
    )
    timeout_seconds = models.PositiveIntegerField(_("timeout (s)"), null=True, blank=True)

    class Meta:
        ordering = ["service", "name"]
        verbose_name = _("route")
        verbose_name_plural = _("routes")
        constraints = [
            models.UniqueConstraint(
                fields=["service", "name"],
                name="catalog_route_unique_name_per_service",
                violation_error_message=_(
                    "name: a route with this name already exists in the service."
                ),
            ),
            models.CheckConstraint(
                condition=models.Q(timeout_seconds__isnull=True) | models.Q(timeout_seconds__gte=1),
                name="catalog_route_timeout_positive",
                violation_error_message=_("timeout_seconds: must be at least 1 second."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.path}"

    def clean(self) -> None:
        errors: dict[str, list] = {}
        service = self.service if self.service_id else None
        if service is not None and service.protocol == APIServiceProtocol.GRPC:
            if not GRPC_PATH_RE.match(self.path or ""):
                errors.setdefault("path", []).append(
                    _("gRPC routes need 'package.Service' or 'package.Service/Method'.")
                )
            if self.match_type != PathMatchType.EXACT:
                errors.setdefault("match_type", []).append(
                    _("gRPC routes match the service and method exactly: use Exact.")
                )
        elif self.match_type == PathMatchType.REGULAR_EXPRESSION:
            if not (self.path or "").startswith("/"):
                errors.setdefault("path", []).append(_("The path must start with '/'."))
            problem = regex_error(self.path or "")
            if problem:
                errors.setdefault("path", []).append(
                    _("The regular expression cannot be used: %(error)s") % {"error": problem}
                )
        elif not HTTP_PATH_RE.match(self.path or ""):
            errors.setdefault("path", []).append(
                _("The path must start with '/' and contain only URL path characters.")
            )
        if not isinstance(self.methods, list) or any(
            m not in HTTPMethod.values for m in self.methods
        ):
            errors.setdefault("methods", []).append(
                _("Methods must be a list of: %(methods)s.")
                % {"methods": ", ".join(HTTPMethod.values)}
            )
        elif len(set(self.methods)) != len(self.methods):
            errors.setdefault("methods", []).append(_("A method is listed twice."))
        errors.update(self._header_match_errors())
        if self.rewrite_path_prefix and not self.rewrite_path_prefix.startswith("/"):
            errors.setdefault("rewrite_path_prefix", []).append(
                _("The rewrite prefix must start with '/'.")
            )
        if self.rewrite_path_prefix and self.match_type != PathMatchType.PATH_PREFIX:
            errors.setdefault("rewrite_path_prefix", []).append(
                _("A prefix rewrite needs the PathPrefix match type.")
            )
        if self.backend_id and self.service_id and self.backend.service_id != self.service_id:
            errors.setdefault("backend", []).append(
                _("The backend must belong to the same API service.")
            )
        if errors:
            raise ValidationError(errors)

    def _header_match_errors(self) -> dict:
        if not isinstance(self.header_matches, list):
            return {"header_matches": [_("Header matches must be a list of objects.")]}
        messages = []
        for match in self.header_matches:
            if not isinstance(match, dict) or set(match) - {"name", "value", "type"}:
                messages.append(_("Each header match is an object with name, value and type."))
                continue
            name, value = match.get("name", ""), match.get("value", "")
            match_type = match.get("type", HeaderMatchType.EXACT)
            if not isinstance(name, str) or not valid_header_name(name):
                messages.append(_("'%(name)s' is not a valid header name.") % {"name": name})
            if not isinstance(value, str) or not value:
                messages.append(_("Header '%(name)s' needs a value.") % {"name": name})
            elif problem := header_value_error(value):
                messages.append(
                    _("Header '%(name)s': the value is not allowed: %(problem)s")
                    % {"name": name, "problem": problem}
                )
            if match_type not in HeaderMatchType.values:
                messages.append(
                    _("Header '%(name)s': type must be Exact or RegularExpression.")
                    % {"name": name}
                )
            elif match_type == HeaderMatchType.REGULAR_EXPRESSION and isinstance(value, str):
                problem = regex_error(value)
                if problem:
                    messages.append(
                        _("Header '%(name)s': the regular expression cannot be used: %(error)s")
                        % {"name": name, "error": problem}
                    )
        return {"header_matches": messages} if messages else {}


class Policy(TimestampedModel):
    """A rate limit, CORS, header or IP rule of an API service, optionally for some environments."""

    service = models.ForeignKey(
        APIService, on_delete=models.CASCADE, related_name="policies", verbose_name=_("API service")
    )
    name = models.CharField(_("name"), max_length=50, validators=[validate_dns_label])
    kind = models.CharField(_("kind"), max_length=30, choices=PolicyKind.choices)
    config = models.JSONField(
        _("configuration"),
        default=dict,
        help_text=_(
            'rate_limit: {"requests": 100, "unit": "Minute"}; cors: {"allow_origins": '
            '["https://app.example.com"]}; request_headers: {"set": {...}, "remove": '
            '[...]}; ip_allowlist: {"cidrs": ["10.0.0.0/8"]}'
        ),
    )
    environments = models.JSONField(
        _("environments"),
        default=list,
        blank=True,
        help_text=_('Limit to these environments, e.g. ["prod"]; empty: all.'),
    )
    enabled = models.BooleanField(_("enabled"), default=True)

    class Meta:
        ordering = ["service", "name"]
        verbose_name = _("policy")
        verbose_name_plural = _("policies")
        constraints = [
            models.UniqueConstraint(
                fields=["service", "name"],
                name="catalog_policy_unique_name_per_service",
                violation_error_message=_(
                    "name: a policy with this name already exists in the service."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.get_kind_display()})"

    def applies_to(self, environment: str) -> bool:
        return self.enabled and (not self.environments or environment in self.environments)

    def clean(self) -> None:
        errors = {}
        if not isinstance(self.environments, list) or any(
            env not in Environment.values for env in self.environments
        ):
            errors["environments"] = _("Environments must be a list of: %(envs)s.") % {
                "envs": ", ".join(Environment.values)
            }
        if self.kind:
            try:
                self.config = clean_policy_config(self.kind, self.config)
            except ValidationError as exc:
                errors.update(exc.message_dict)
        if errors:
            raise ValidationError(errors)
