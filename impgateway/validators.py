"""Validators for the names, addresses, patterns and values that end up in Kubernetes objects
and gateways: what the API server or the gateway would refuse later is refused here first."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlparse

import re2
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


def _labels_fit(hostname: str) -> bool:
    return all(len(label) <= 63 for label in hostname.split("."))


def validate_dns_label_list(value: object) -> None:
    """A list of distinct DNS labels (Kubernetes namespace names)."""
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValidationError(_("Expected a list of names."), code="dns_label_list")
    for item in value:
        validate_dns_label(item)
    if len(set(value)) != len(value):
        raise ValidationError(_("A name is listed twice."), code="dns_label_list")


def validate_hostname(value: str) -> None:
    """A DNS hostname, optionally with a leading '*.' wildcard label (Gateway API listeners);
    every label at most 63 characters."""
    if len(value) > 253 or not WILDCARD_HOSTNAME_RE.match(value) or not _labels_fit(value):
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
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return len(host) <= 253 and bool(DNS_SUBDOMAIN_RE.match(host)) and _labels_fit(host)
    return True


def endpoint_host_error(host: str) -> str | None:
    """Why no cluster can send traffic to `host`, or None. Kubernetes refuses EndpointSlice
    addresses that are unspecified, loopback, link-local or link-local multicast (and a
    multicast address is never a backend); `localhost` names loopback (RFC 6761)."""
    if host == "localhost" or host.endswith(".localhost"):
        return "'localhost' is the gateway's own loopback, not a backend"
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    for refused, what in (
        (address.is_unspecified, "an unspecified"),
        (address.is_loopback, "a loopback"),
        (address.is_link_local, "a link-local"),
        (address.is_multicast, "a multicast"),
    ):
        if refused:
            return f"{host} is {what} address, which clusters do not route to a backend"
    return None


def validate_endpoint(value: str) -> None:
    """A backend endpoint a cluster can reach: `parse_endpoint` and `endpoint_host_error`."""
    problem = endpoint_host_error(parse_endpoint(value)["host"])
    if problem:
        raise ValidationError(
            _("'%(value)s' is not a usable endpoint: %(problem)s."),
            code="endpoint",
            params={"value": value, "problem": problem},
        )


# --- Patterns and header values --------------------------------------------------------------

# Gateway API v1.6: HTTPRoute path values, header match and header filter values.
MAX_PATH_LENGTH = 1024
MAX_HEADER_VALUE_LENGTH = 4096


def regex_error(pattern: str) -> str | None:
    """Why a gateway cannot use `pattern` as a regular expression, or None. Gateways match
    with RE2 (Envoy) or engines no richer: what RE2 refuses (look-around, back-references,
    repetition counts over 1000) is refused, whatever Python's `re` would accept."""
    options = re2.Options()
    options.log_errors = False
    try:
        re2.compile(pattern, options)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else b""
        if isinstance(reason, bytes):
            reason = reason.decode(errors="replace")
        return f"RE2 refuses it: {reason or 'it does not compile'}"
    return None


def header_value_error(value: str) -> str | None:
    """Why `value` cannot be an HTTP header value (a header match or a header to set), or
    None: at most 4096 characters (Gateway API) and no control characters but tab (RFC 9110
    field values; a newline would end the header)."""
    if len(value) > MAX_HEADER_VALUE_LENGTH:
        return f"longer than {MAX_HEADER_VALUE_LENGTH} characters"
    if any((ord(char) < 32 and char != "\t") or ord(char) == 127 for char in value):
        return "control characters (newlines, NUL, ...) are not allowed in header values"
    return None


# --- JSON documents from users ----------------------------------------------------------------

MAX_JSON_DEPTH = 32


def json_problem(value: object, max_depth: int = MAX_JSON_DEPTH) -> tuple[str, str] | None:
    """The first part of a parsed JSON value that cannot be stored or used, as (path, rule),
    or None: nesting deeper than `max_depth`, and strings or keys with NUL characters or
    unpaired surrogates (PostgreSQL's jsonb and UTF-8 refuse both). Walks without recursion,
    so a hostile document cannot exhaust the stack."""
    stack: list[tuple[object, str, int]] = [(value, "", 1)]
    while stack:
        item, path, depth = stack.pop()
        if isinstance(item, dict | list) and depth > max_depth:
            return (path or "$")[:80], f"nested deeper than {max_depth} levels"
        if isinstance(item, dict):
            for key, child in item.items():
                problem = _string_problem(str(key))
                if problem:
                    return f"{path}.{key!r}" if path else repr(key), f"key: {problem}"
                stack.append((child, f"{path}.{key}" if path else str(key), depth + 1))
        elif isinstance(item, list):
            for index, child in enumerate(item):
                stack.append((child, f"{path}[{index}]", depth + 1))
        elif isinstance(item, str):
            problem = _string_problem(item)
            if problem:
                return path or "$", problem
    return None


def _string_problem(text: str) -> str | None:
    if "\x00" in text:
        return "NUL characters are not allowed"
    if any("\ud800" <= char <= "\udfff" for char in text):
        return "unpaired surrogate characters are not allowed"
    return None


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
