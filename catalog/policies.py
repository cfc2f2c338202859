"""The configuration each policy kind accepts, checked and normalised in one place.

Admin forms, API serializers and the publish snapshot all go through `clean_policy_config`.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from django.core.exceptions import ValidationError

from impgateway.validators import header_value_error

from .choices import HTTPMethod, PolicyKind, RateLimitUnit

HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
# Gateway API HTTPHeaderName: at most 256 characters.
MAX_HEADER_NAME_LENGTH = 256


def valid_header_name(name: str) -> bool:
    """An HTTP header name (RFC 9110 token) as the Gateway API accepts it."""
    return len(name) <= MAX_HEADER_NAME_LENGTH and bool(HEADER_NAME_RE.match(name))
ORIGIN_RE = re.compile(r"^(\*|https?://(\*\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?)$")


def _error(message: str) -> ValidationError:
    return ValidationError({"config": message})


def _string_list(config: dict, key: str, kind: str, required: bool = False) -> list[str]:
    value = config.get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
        raise _error(f"{kind}: '{key}' must be a list of non-empty strings")
    if required and not value:
        raise _error(f"{kind}: '{key}' needs at least one entry")
    return list(value)


def _known_keys(config: dict, kind: str, allowed: set[str]) -> None:
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise _error(
            f"{kind}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _clean_rate_limit(config: dict) -> dict:
    _known_keys(config, "rate_limit", {"requests", "unit"})
    requests = config.get("requests")
    if isinstance(requests, bool) or not isinstance(requests, int) or requests <= 0:
        raise _error("rate_limit: 'requests' must be a positive integer")
    unit = config.get("unit", RateLimitUnit.MINUTE)
    if unit not in RateLimitUnit.values:
        raise _error(f"rate_limit: 'unit' must be one of {', '.join(RateLimitUnit.values)}")
    return {"requests": requests, "unit": unit}


def _clean_cors(config: dict) -> dict:
    _known_keys(
        config,
        "cors",
        {
            "allow_origins",
            "allow_methods",
            "allow_headers",
            "expose_headers",
            "max_age_seconds",
            "allow_credentials",
        },
    )
    origins = _string_list(config, "allow_origins", "cors", required=True)
    for origin in origins:
        if not ORIGIN_RE.match(origin):
            raise _error(f"cors: origin '{origin}' must be '*' or an http(s) origin")
    methods = [m.upper() for m in _string_list(config, "allow_methods", "cors")]
    for method in methods:
        if method not in HTTPMethod.values:
            raise _error(f"cors: '{method}' is not an HTTP method")
    headers = _string_list(config, "allow_headers", "cors")
    expose = _string_list(config, "expose_headers", "cors")
    for header in headers + expose:
        if not valid_header_name(header):
            raise _error(f"cors: '{header}' is not a valid header name")
    max_age = config.get("max_age_seconds", 600)
    if isinstance(max_age, bool) or not isinstance(max_age, int) or max_age < 0:
        raise _error("cors: 'max_age_seconds' must be a non-negative integer")
    credentials = config.get("allow_credentials", False)
    if not isinstance(credentials, bool):
        raise _error("cors: 'allow_credentials' must be true or false")
    if credentials and "*" in origins:
        raise _error("cors: 'allow_credentials' cannot be combined with the '*' origin")
    return {
        "allow_origins": origins,
        "allow_methods": methods or ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        "allow_headers": headers,
        "expose_headers": expose,
        "max_age_seconds": max_age,
        "allow_credentials": credentials,
    }


def _clean_request_headers(config: dict) -> dict:
    _known_keys(config, "request_headers", {"set", "remove"})
    set_headers = config.get("set", {})
    if not isinstance(set_headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in set_headers.items()
    ):
        raise _error("request_headers: 'set' must map header names to string values")
    remove = _string_list(config, "remove", "request_headers")
    if not set_headers and not remove:
        raise _error("request_headers: give at least one header to 'set' or 'remove'")
    for header in list(set_headers) + remove:
        if not valid_header_name(header):
            raise _error(f"request_headers: '{header}' is not a valid header name")
    for header, value in set_headers.items():
        problem = header_value_error(value)
        if problem:
            raise _error(f"request_headers: the value of '{header}' is not allowed: {problem}")
    return {"set": dict(sorted(set_headers.items())), "remove": sorted(remove)}


def _clean_ip_allowlist(config: dict) -> dict:
    _known_keys(config, "ip_allowlist", {"cidrs"})
    cidrs = _string_list(config, "cidrs", "ip_allowlist", required=True)
    normalised = []
    for cidr in cidrs:
        try:
            normalised.append(str(ipaddress.ip_network(cidr, strict=False)))
        except ValueError:
            raise _error(f"ip_allowlist: '{cidr}' is not an IP network in CIDR form") from None
    return {"cidrs": normalised}


_CLEANERS = {
    PolicyKind.RATE_LIMIT: _clean_rate_limit,
    PolicyKind.CORS: _clean_cors,
    PolicyKind.REQUEST_HEADERS: _clean_request_headers,
    PolicyKind.IP_ALLOWLIST: _clean_ip_allowlist,
}


def clean_policy_config(kind: str, config: Any) -> dict:
    """Check `config` for a policy of `kind` and return it normalised with defaults filled in.

    Raises ValidationError on the `config` field naming the kind and the rule.
    """
    if kind not in _CLEANERS:
        raise ValidationError({"kind": f"unknown policy kind '{kind}'"})
    if not isinstance(config, dict):
        raise _error(f"{kind}: the configuration must be a JSON object")
    return _CLEANERS[PolicyKind(kind)](config)
