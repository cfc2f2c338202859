"""Validators for the names and addresses that end up in Kubernetes objects."""

from __future__ import annotations

import re
from urllib.parse import urlparse

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

DNS_LABEL_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
WILDCARD_HOSTNAME_RE = re.compile(
    r"^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
LABEL_VALUE_RE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")
LABEL_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def is_dns_label(value: str) -> bool:
    """True for an RFC 1123 DNS label: lower-case alphanumerics and '-', at most 63 characters."""
    return len(value) <= 63 and bool(DNS_LABEL_RE.match(value))


def validate_dns_label(value: str) -> None:
    if not is_dns_label(value):
        raise ValidationError(
            _(
                "'%(value)s' is not a valid DNS label: use at most 63 lower-case letters, "
                "digits and '-', starting and ending with a letter or digit."
            ),
            code="dns_label",
            params={"value": value},
        )


def validate_hostname(value: str) -> None:
    """A DNS hostname, optionally with a leading '*.' wildcard label (Gateway API listeners)."""
    if len(value) > 253 or not WILDCARD_HOSTNAME_RE.match(value):
        raise ValidationError(
            _("'%(value)s' is not a valid hostname (RFC 1123, optional leading '*.')."),
            code="hostname",
            params={"value": value},
        )


def parse_endpoint(value: str) -> dict:
    """Split a backend endpoint, `host:port` or an http(s) URL, into scheme, host, port and path.

    Raises ValidationError when it is neither.
    """
    text = value.strip()
    if "://" in text:
        parsed = urlparse(text)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValidationError(
                _(
                    "'%(value)s' is not a valid endpoint: URLs must be http:// or https:// "
                    "with a host."
                ),
                code="endpoint",
                params={"value": value},
            )
        try:
            port = parsed.port
        except ValueError:
            port = -1
        if port == -1 or (port is not None and not 1 <= port <= 65535):
            raise ValidationError(
                _("'%(value)s' is not a valid endpoint: port must be 1-65535."),
                code="endpoint",
                params={"value": value},
            )
        host = parsed.hostname.lower()
        if not _valid_host(host):
            raise ValidationError(
                _("'%(value)s' is not a valid endpoint: '%(host)s' is not a hostname or IP."),
                code="endpoint",
                params={"value": value, "host": host},
            )
        default_port = 443 if parsed.scheme == "https" else 80
        return {
            "scheme": parsed.scheme,
            "host": host,
            "port": port or default_port,
            "path": parsed.path.rstrip("/"),
        }
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValidationError(
            _(
                "'%(value)s' is not a valid endpoint: use host:port (port 1-65535) or an "
                "http(s) URL."
            ),
            code="endpoint",
            params={"value": value},
        )
    host = host.strip("[]").lower()
    if not _valid_host(host):
        raise ValidationError(
            _("'%(value)s' is not a valid endpoint: '%(host)s' is not a hostname or IP."),
            code="endpoint",
            params={"value": value, "host": host},
        )
    return {"scheme": "http", "host": host, "port": int(port_text), "path": ""}


def _valid_host(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return len(host) <= 253 and bool(DNS_SUBDOMAIN_RE.match(host))
    return True


def validate_endpoint(value: str) -> None:
    parse_endpoint(value)


def validate_kubernetes_labels(value: object) -> None:
    """A mapping of Kubernetes label names to label values."""
    if not isinstance(value, dict):
        raise ValidationError(_("Labels must be a mapping of names to values."), code="labels")
    for key, label_value in value.items():
        prefix, _slash, name = str(key).rpartition("/")
        if (
            not name
            or len(name) > 63
            or not LABEL_NAME_RE.match(name)
            or (prefix and (len(prefix) > 253 or not DNS_SUBDOMAIN_RE.match(prefix)))
        ):
            raise ValidationError(
                _("'%(key)s' is not a valid Kubernetes label name."),
                code="labels",
                params={"key": key},
            )
        if (
            not isinstance(label_value, str)
            or len(label_value) > 63
            or not LABEL_VALUE_RE.match(label_value)
        ):
            raise ValidationError(
                _(
                    "Label '%(key)s': '%(value)s' is not a valid Kubernetes label value "
                    "(at most 63 characters: alphanumerics, '-', '_', '.')."
                ),
                code="labels",
                params={"key": key, "value": label_value},
            )


def validate_string_list(value: object) -> None:
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise ValidationError(_("Expected a list of non-empty strings."), code="string_list")
