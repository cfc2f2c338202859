"""API errors as the API server reports them: ``Status`` objects with reason, code, details."""

from __future__ import annotations

from typing import Any

from .resources import Resource


class APIError(Exception):
    """An error answer; ``status()`` is the ``Status`` body."""

    def __init__(self, code: int, reason: str, message: str,
                 details: dict[str, Any] | None = None,
                 list_meta: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.list_meta = list_meta or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": dict(self.list_meta),
            "status": "Failure",
            "message": self.message,
        }
        if self.reason:
            body["reason"] = self.reason
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


def _details(resource: Resource, name: str, **extra: Any) -> dict[str, Any]:
    details: dict[str, Any] = {"name": name}
    if resource.group:
        details["group"] = resource.group
    details["kind"] = resource.plural
    details.update(extra)
    return details


def not_found(resource: Resource, name: str) -> APIError:
    return APIError(404, "NotFound", f'{resource.group_resource} "{name}" not found',
                    _details(resource, name))


def namespace_not_found(namespace: str) -> APIError:
    return APIError(404, "NotFound", f'namespaces "{namespace}" not found',
                    {"name": namespace, "kind": "namespaces"})


def already_exists(resource: Resource, name: str) -> APIError:
    return APIError(409, "AlreadyExists", f'{resource.group_resource} "{name}" already exists',
                    _details(resource, name))


def conflict(resource: Resource, name: str, why: str) -> APIError:
    return APIError(
        409, "Conflict",
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": {why}',
        _details(resource, name),
    )


STALE = "the object has been modified; please apply your changes to the latest version and " \
        "try again"


def bad_request(message: str) -> APIError:
    return APIError(400, "BadRequest", message)


def from_status(status: dict[str, Any]) -> APIError:
    """An error answering with a Status body built elsewhere (the schema registry's 422)."""
    details = dict(status.get("details") or {})
    if not details.get("group"):
        details.pop("group", None)
    return APIError(status["code"], status.get("reason", ""), status["message"], details)


def method_not_allowed() -> APIError:
    return APIError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource", {})


def resource_not_found() -> APIError:
    return APIError(404, "NotFound", "the server could not find the requested resource", {})


def unsupported_media_type(accepted: list[str]) -> APIError:
    return APIError(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted),
    )


def not_acceptable(accepted: list[str]) -> APIError:
    return APIError(406, "NotAcceptable",
                    "only the following media types are accepted: " + ", ".join(accepted))


def unauthorized() -> APIError:
    return APIError(401, "Unauthorized", "Unauthorized")


def forbidden(resource: Resource, name: str, why: str) -> APIError:
    return APIError(403, "Forbidden", f'{resource.group_resource} "{name}" is forbidden: {why}',
                    _details(resource, name))


def internal(message: str) -> APIError:
    """An error the server did not turn into a Status (code 500, no reason)."""
    return APIError(500, "", message)


def expired(message: str, continue_token: str = "") -> APIError:
    """410 Gone (NewResourceExpired); a list may carry a continue token to go on with."""
    return APIError(410, "Expired", message, None,
                    {"continue": continue_token} if continue_token else None)


def too_large_resource_version(requested: int, current: int, retry_seconds: int = 0) -> APIError:
    """504 for a resourceVersion the server has not reached (NewTooLargeResourceVersionError
    in k8s.io/apiserver pkg/storage/errors.go)."""
    details: dict[str, Any] = {"causes": [{"reason": "ResourceVersionTooLarge",
                                           "message": "Too large resource version"}]}
    if retry_seconds:
        details["retryAfterSeconds"] = retry_seconds
    return APIError(504, "Timeout",
                    f"Timeout: Too large resource version: {requested}, current: {current}",
                    details)
