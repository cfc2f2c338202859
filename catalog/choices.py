"""Enumerated values of the logical layer."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Environment(models.TextChoices):
    DEV = "dev", _("Development")
    STAGING = "staging", _("Staging")
    PROD = "prod", _("Production")


class APIServiceStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    ACTIVE = "active", _("Active")
    DEPRECATED = "deprecated", _("Deprecated")
    RETIRED = "retired", _("Retired")


class APIServiceProtocol(models.TextChoices):
    HTTP = "HTTP", _("HTTP")
    GRPC = "GRPC", _("gRPC")


class PathMatchType(models.TextChoices):
    EXACT = "Exact", _("Exact")
    PATH_PREFIX = "PathPrefix", _("Path prefix")
    REGULAR_EXPRESSION = "RegularExpression", _("Regular expression")


class HeaderMatchType(models.TextChoices):
    EXACT = "Exact", _("Exact")
    REGULAR_EXPRESSION = "RegularExpression", _("Regular expression")


class HTTPMethod(models.TextChoices):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"
    CONNECT = "CONNECT"
    TRACE = "TRACE"


class LoadBalancing(models.TextChoices):
    ROUND_ROBIN = "round_robin", _("Round robin")
    LEAST_REQUEST = "least_request", _("Least request")
    RANDOM = "random", _("Random")
    CONSISTENT_HASH = "consistent_hash", _("Consistent hash (client IP)")


class PolicyKind(models.TextChoices):
    RATE_LIMIT = "rate_limit", _("Rate limit")
    CORS = "cors", _("CORS")
    REQUEST_HEADERS = "request_headers", _("Request headers")
    IP_ALLOWLIST = "ip_allowlist", _("IP allow-list")


class RateLimitUnit(models.TextChoices):
    SECOND = "Second", _("per second")
    MINUTE = "Minute", _("per minute")
    HOUR = "Hour", _("per hour")
    DAY = "Day", _("per day")


class GatewayClass(models.TextChoices):
    ENVOY_GATEWAY = "envoy-gateway", _("Envoy Gateway")
    NGINX = "nginx", _("NGINX Gateway Fabric")
    KONG = "kong", _("Kong")
    TRAEFIK = "traefik", _("Traefik")
    APISIX = "apisix", _("Apache APISIX")


class ListenerProtocol(models.TextChoices):
    HTTP = "HTTP", _("HTTP")
    HTTPS = "HTTPS", _("HTTPS")
    GRPC = "GRPC", _("gRPC")
    TLS = "TLS", _("TLS")
    TCP = "TCP", _("TCP")


class TLSMode(models.TextChoices):
    TERMINATE = "Terminate", _("Terminate")
    PASSTHROUGH = "Passthrough", _("Passthrough")


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", _("Pending approval")
    ACTIVE = "active", _("Active")
    REJECTED = "rejected", _("Rejected")
    CANCELLED = "cancelled", _("Cancelled")


class APIKeyStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    PENDING = "pending", _("Waiting for approval")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")
