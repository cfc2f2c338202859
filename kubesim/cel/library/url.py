"""The Kubernetes URL library (apiserver pkg/cel/library/urls.go): url(), isURL() and the
kubernetes.URL accessors, parsing as Go's url.ParseRequestURI does."""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from ..overloads import Overload
from ..values import URL, CelError, no_overload, string_arg

_URL_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")


def parse_url(text: Any, operation: str) -> URL:
    # Go's url.ParseRequestURI: an absolute URI or an absolute path, no fragment parsing.
    text = string_arg(text, operation)
    bad = CelError(f"URL parse error during conversion from string: {text!r}")
    if not text or any(ord(char) < 0x20 or ord(char) == 0x7F or char == " " for char in text):
        raise bad
    if re.search(r"%(?![0-9A-Fa-f]{2})", text):
        raise bad
    if text.startswith("/"):
        path, _, query = text.partition("?")
        return URL("", "", "", "", path, query)
    scheme, colon, rest = text.partition(":")
    if not colon or not _URL_SCHEME.fullmatch(scheme):
        raise bad
    if not rest.startswith("//"):
        if not rest.startswith("/"):
            raise bad
        path, _, query = rest.partition("?")
        return URL(scheme.lower(), "", "", "", path, query)
    authority_and_path = rest[2:]
    split_at = min(
        [i for i in (authority_and_path.find("/"), authority_and_path.find("?")) if i >= 0],
        default=len(authority_and_path),
    )
    authority = authority_and_path[:split_at]
    remainder = authority_and_path[split_at:]
    path, _, query = remainder.partition("?")
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        closing = host.find("]")
        if closing < 0:
            raise bad
        hostname = host[1:closing]
        port_part = host[closing + 1 :]
        if port_part and not port_part.startswith(":"):
            raise bad
        port = port_part[1:]
    else:
        hostname, _, port = host.partition(":")
    if port and not port.isdigit():
        raise bad
    return URL(scheme.lower(), host, hostname, port, path, query)


def _is_url(text: Any) -> bool:
    try:
        parse_url(text, "isURL")
    except CelError:
        if type(text) is not str:
            raise
        return False
    return True


def _url_value(value: Any, operation: str) -> URL:
    if type(value) is URL:
        return value
    raise no_overload(operation, value)


def _url_query(value: Any) -> dict[str, list[str]]:
    query = _url_value(value, "getQuery").query
    return urllib.parse.parse_qs(query, keep_blank_values=True)


FUNCTIONS: dict[str, Overload] = {
    "url": Overload(lambda text: parse_url(text, "url"), 1, 1),
    "isURL": Overload(_is_url, 1, 1),
}

METHODS: dict[str, Overload] = {
    "getScheme": Overload(lambda url: _url_value(url, "getScheme").scheme, 0, 0),
    "getHost": Overload(lambda url: _url_value(url, "getHost").host, 0, 0),
    "getHostname": Overload(lambda url: _url_value(url, "getHostname").hostname, 0, 0),
    "getPort": Overload(lambda url: _url_value(url, "getPort").port, 0, 0),
    "getEscapedPath": Overload(lambda url: _url_value(url, "getEscapedPath").escaped_path, 0, 0),
    "getQuery": Overload(_url_query, 0, 0),
}
