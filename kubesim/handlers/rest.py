"""What every verb handler shares: the request and response, the resource URL's target, and
the query options and bodies that several verbs read (dryRun, fieldManager, fieldValidation,
request bodies), as k8s.io/apiserver pkg/endpoints/handlers/rest.go and helpers.go do."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import errors, protobuf
from ..decoding import DecodeError, parse_json, parse_yaml
from ..errors import APIError
from ..patch import APPLY_PATCH, JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH
from ..resources import Resource
from ..selectors import SelectorError, parse_field_selector, parse_label_selector

MAX_MANAGER_LENGTH = 128
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")


@dataclass
class Request:
    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    body: bytes = b""

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")

    @property
    def content_type(self) -> str:
        return self.header("content-type").split(";")[0].strip().lower()


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None


@dataclass
class Target:
    """What a resource URL names."""

    resource: Resource
    namespace: str | None
    name: str | None
    subresource: str
    watch: bool


def selectors(text_labels: str, text_fields: str, resource: Resource,
              name: str | None = None) -> tuple[list, list, dict]:
    """Parsed label and field selectors (400 when malformed), and the fields a field selector
    may name; a URL's object name becomes ``metadata.name=...`` (handlers/get.go listOpts)."""
    supported = resource.field_selectors()
    try:
        labels = parse_label_selector(text_labels)
        fields = parse_field_selector(text_fields, supported)
        if name is not None:
            fields = [*fields, *parse_field_selector(f"metadata.name={name}", supported)]
    except SelectorError as error:
        raise errors.bad_request(str(error)) from None
    return labels, fields, supported


def dry_run(request: Request) -> bool:
    value = request.query.get("dryRun", "")
    if value and value != "All":
        raise errors.bad_request(f"Invalid dry run value: {value}")
    return value == "All"


def patch_options_error(field_name: str, reason: str, message: str) -> APIError:
    return APIError(
        422, "Invalid",
        f'PatchOptions.meta.k8s.io "" is invalid: {field_name}: {message}',
        {"group": "meta.k8s.io", "kind": "PatchOptions",
         "causes": [{"reason": reason, "message": message, "field": field_name}]},
    )


def check_manager(manager: str) -> None:
    if len(manager) > MAX_MANAGER_LENGTH:
        raise patch_options_error(
            "fieldManager", "FieldValueTooLong",
            f"Too long: may not be more than {MAX_MANAGER_LENGTH} bytes")


def manager(request: Request) -> str:
    """The field manager of a non-apply write: ``fieldManager`` or the user agent."""
    found = request.query.get("fieldManager", "")
    if not found:
        # The API server's default: the user agent up to its first "/".
        found = request.header("user-agent").split("/")[0][:MAX_MANAGER_LENGTH]
    check_manager(found)
    return found or "unknown"


def validation_directive(request: Request) -> str:
    value = request.query.get("fieldValidation", "") or "Warn"
    if value not in ("Ignore", "Warn", "Strict"):
        raise errors.bad_request(f"fieldValidation must be one of Ignore, Warn, Strict: {value}")
    return value


def patch_types(resource: Resource) -> list[str]:
    types = [JSON_PATCH, MERGE_PATCH, APPLY_PATCH]
    if not resource.custom:
        types.insert(2, STRATEGIC_MERGE_PATCH)
    return types


def decode_body(request: Request, resource: Resource) -> tuple[Any, list[str]]:
    """A create or update body as the server's codecs decode it, with its duplicate fields."""
    kind = request.content_type
    try:
        if kind in YAML_TYPES:
            return parse_yaml(request.body)
        if kind in ("", "application/json", "*/*"):
            return parse_json(request.body)
        if kind == protobuf.MEDIA_TYPE and not resource.custom:
            return protobuf.decode(request.body), []
    except (DecodeError, protobuf.ProtobufError) as error:
        raise errors.bad_request(f"error decoding request body: {error}") from None
    accepted = ["application/json", "application/yaml"]
    if not resource.custom:
        accepted.append(protobuf.MEDIA_TYPE)
    raise errors.unsupported_media_type(accepted)


def check_type(resource: Resource, body: Any) -> None:
    """The body is an object of the URL's kind (apiVersion and kind default to it)."""
    if not isinstance(body, dict):
        raise errors.bad_request("the request body must be a JSON or YAML object")
    api_version = body.setdefault("apiVersion", resource.api_version)
    kind = body.setdefault("kind", resource.kind)
    if api_version != resource.api_version:
        raise errors.bad_request(
            f"the API version in the data ({api_version}) does not match the expected API "
            f"version ({resource.api_version})")
    if kind != resource.kind:
        raise errors.bad_request(
            f"the kind in the data ({kind}) does not match the expected kind ({resource.kind})")


def check_name(body: dict[str, Any], target: Target) -> None:
    metadata = body.setdefault("metadata", {})
    if metadata.get("name") != target.name:
        raise errors.bad_request(
            f"the name of the object ({metadata.get('name', '')}) does not match the name on "
            f"the URL ({target.name})")
