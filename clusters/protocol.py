"""The agent protocol's wire format: paths, headers, limits and the JSON shapes, in one place.

The control plane (`clusters.api`) and the in-cluster agent (`agent`) both import this module,
so it imports nothing from Django. docs/agent-protocol.md describes the same shapes in prose.
"""

from __future__ import annotations

from typing import Literal, NotRequired, TypedDict

from publishing.translation.spec import Capabilities, RevisionSpec

PROTOCOL_VERSION = 1

# Paths under the control plane's base URL.
AGENT_API_PREFIX = "/api/v1/agent/"
REGISTER_PATH = f"{AGENT_API_PREFIX}register"
TOKEN_REFRESH_PATH = f"{AGENT_API_PREFIX}token/refresh"  # noqa: S105 (a path)
DESIRED_STATE_PATH = f"{AGENT_API_PREFIX}desired-state"
STATUS_PATH = f"{AGENT_API_PREFIX}status"
HEARTBEAT_PATH = f"{AGENT_API_PREFIX}heartbeat"

# `Authorization: Bearer <access token>` on every request but registration.
AUTHORIZATION_SCHEME = "Bearer"
# The longest `?wait=` a server honours; longer asks are shortened to it.
MAX_WAIT_SECONDS = 60

# Access-token claims (JWT); the agent treats the token as opaque and reads `expires_at`.
TOKEN_AUDIENCE = "imp-gateway-agent"  # noqa: S105 (a claim value)

# Object conditions the agent reads back from gateway resources.
CONDITION_TYPES = ("Accepted", "Programmed", "ResolvedRefs")
ConditionStatus = Literal["True", "False", "Unknown"]
DeploymentState = Literal["Pending", "Applying", "Ready", "Degraded", "Failed"]
RemovalReason = Literal["withdrawn", "moved", "deleted"]

# Limits a request must respect (a larger request is refused with 400).
MAX_REPORTS_PER_REQUEST = 500
MAX_OBJECTS_PER_CATEGORY = 1000
MAX_ENTRIES_PER_LIST = 200
MAX_MESSAGE_LENGTH = 2000


class ErrorCode:
    """The `error` member of every error body: `{"error": <code>, "detail": <message>}`."""

    INVALID_REQUEST = "invalid_request"  # 400: the body fails validation; detail names fields
    # 401: unknown, used or expired
    INVALID_REGISTRATION_TOKEN = "invalid_registration_token"  # noqa: S105
    AGENT_DISABLED = "agent_disabled"  # 403: an operator disabled the agent of that name
    # 401: missing, malformed, forged, expired or revoked
    INVALID_TOKEN = "invalid_token"  # noqa: S105
    FORBIDDEN = "forbidden"  # 403: the token's cluster may not do this
    NOT_FOUND = "not_found"  # 404
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"  # 415: send application/json
    SERVER_ERROR = "server_error"  # 500: retry with backoff
    UNAVAILABLE = "unavailable"  # 503: the control plane's database is away; retry with backoff


class ErrorBody(TypedDict):
    error: str
    detail: str | dict | list


# --- Registration and tokens --------------------------------------------------------------


class RegisterRequest(TypedDict):
    registration_token: str
    name: str  # the agent's name within its cluster, e.g. its pod name
    version: str  # the agent's version
    capabilities: Capabilities  # kubernetes_version, gateway_classes, crds
    # Imp-Gateway gateway class -> GatewayClass object name, when they differ
    gateway_class_names: NotRequired[dict[str, str]]


class AccessTokenResponse(TypedDict):
    """Answer to registration and to a token refresh."""

    token: str  # a JWT for `Authorization: Bearer`
    expires_at: str  # RFC 3339 UTC; refresh well before it (e.g. at two thirds of its life)
    agent_id: int


# --- Desired state ------------------------------------------------------------------------


class ClusterInfo(TypedDict):
    id: int
    name: str
    namespace: str  # where the agent writes gateway resources


class DesiredPublish(TypedDict):
    publish_id: int
    revision: int  # the PublishRevision number; labels every object of the publish
    content_hash: str  # SHA-256 of the revision spec
    spec: RevisionSpec  # translate with publishing.translation.render_manifests


class Removal(TypedDict):
    """A publish whose objects the agent must prune from this cluster."""

    publish_id: int
    reason: RemovalReason


class DesiredStateResponse(TypedDict):
    """`GET desired-state` 200 body; the `ETag` header carries `revision` too."""

    revision: int  # the cluster's desired-state revision
    cluster: ClusterInfo
    publishes: list[DesiredPublish]  # every published publish of the cluster, by publish_id
    removals: list[Removal]  # by publish_id


# --- Status reports -----------------------------------------------------------------------


class ObjectRef(TypedDict):
    api_version: str  # e.g. "gateway.networking.k8s.io/v1"
    kind: str  # e.g. "HTTPRoute"
    namespace: str  # "" for cluster-scoped objects
    name: str


class FailedObject(TypedDict):
    object: ObjectRef
    error: str


class ObjectChanges(TypedDict, total=False):
    """What one apply did, object by object; every list may be left out when empty."""

    created: list[ObjectRef]
    configured: list[ObjectRef]
    unchanged: list[ObjectRef]
    pruned: list[ObjectRef]
    failed: list[FailedObject]


class ObjectCondition(TypedDict):
    object: ObjectRef
    type: str  # one of CONDITION_TYPES (others are stored as reported)
    status: ConditionStatus
    reason: NotRequired[str]
    message: NotRequired[str]


class DriftEvent(TypedDict):
    object: ObjectRef
    detected_at: str  # RFC 3339; with `object`, identifies the event (repeats are ignored)
    fields: NotRequired[list[str]]  # paths that differed, e.g. "spec.rules[0].matches"
    # reapplied: drift corrected; reported: drift seen, not corrected; refused: another publish
    # tried to write this publish's object and was refused (the object is intact)
    action: NotRequired[Literal["reapplied", "reported", "refused"]]


class PublishReport(TypedDict):
    publish_id: int
    revision: NotRequired[int | None]  # the revision applied; may be null when removed
    removed: NotRequired[bool]  # true: every object of the publish is gone from the cluster
    objects: NotRequired[ObjectChanges]
    conditions: NotRequired[list[ObjectCondition]]
    errors: NotRequired[list[str]]
    drift: NotRequired[list[DriftEvent]]


class StatusRequest(TypedDict):
    reports: list[PublishReport]


class StatusOutcome(TypedDict):
    publish_id: int
    # unknown_revision: the publish has no such revision (yet); the report is not stored
    result: Literal[
        "stored", "unchanged", "deleted", "stale", "still_published", "unknown_revision"
    ]
    state: NotRequired[DeploymentState]


class StatusResponse(TypedDict):
    results: list[StatusOutcome]


# --- Heartbeat ----------------------------------------------------------------------------


class HeartbeatRequest(TypedDict, total=False):
    version: str
    capabilities: Capabilities
    gateway_class_names: dict[str, str]


class HeartbeatResponse(TypedDict):
    agent_id: int
    status: Literal["connected"]
    desired_state_revision: int  # poll desired-state when this differs from what you applied
    server_time: str  # RFC 3339 UTC


# --- ETags --------------------------------------------------------------------------------


def format_etag(revision: int) -> str:
    """The ETag of a desired-state revision: the number as a strong entity tag."""
    return f'"{int(revision)}"'


def parse_etag(value: str | None) -> int | None:
    """The revision one entity tag names (`"42"`, `W/"42"` or bare `42`), else None."""
    if not value:
        return None
    candidate = value.strip()
    if candidate.startswith("W/"):
        candidate = candidate[2:]
    candidate = candidate.strip('"')
    if candidate.isdigit() and len(candidate) <= 20:
        return int(candidate)
    return None


def etag_matches(if_none_match: str | None, revision: int) -> bool:
    """True when an `If-None-Match` header (one tag or a list) names this revision."""
    if not if_none_match:
        return False
    return any(parse_etag(item) == revision for item in if_none_match.split(","))
