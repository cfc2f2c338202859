"""The agent endpoints: thin views over clusters.services, clusters.desired_state and
publishing.deployments. Every error body is `{"error": <code>, "detail": ...}`
(clusters.protocol.ErrorCode); docs/agent-protocol.md describes each endpoint.
"""

from __future__ import annotations

import psycopg
from django.conf import settings
from django.db import DatabaseError
from django.http import HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import APIException
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView, exception_handler

from impgateway.parsers import BoundedJSONParser
from publishing.deployments import ReportRefused, ingest_status_report

from ..desired_state import serve_desired_state
from ..protocol import ErrorCode, format_etag
from ..services import (
    RegistrationRefused,
    record_heartbeat,
    refresh_access_token,
    register_agent,
)
from ..tokens import InvalidAgentToken, bearer_token
from .authentication import (
    AUTHENTICATE_HEADER,
    AgentRefreshAuthentication,
    AgentTokenAuthentication,
    IsAgent,
)
from .serializers import (
    AccessTokenSerializer,
    ErrorSerializer,
    HeartbeatResponseSerializer,
    HeartbeatSerializer,
    RegisterSerializer,
    StatusReportSerializer,
    StatusResponseSerializer,
)

_CODES_BY_STATUS = {
    400: ErrorCode.INVALID_REQUEST,
    401: ErrorCode.INVALID_TOKEN,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}


def agent_exception_handler(exc: Exception, context: dict) -> Response | None:
    """DRF's handler, answering in the agent protocol's error shape."""
    if isinstance(exc, RegistrationRefused):
        refused_status = 403 if exc.code == ErrorCode.AGENT_DISABLED else 401
        headers = {"WWW-Authenticate": AUTHENTICATE_HEADER} if refused_status == 401 else {}
        return Response({"error": exc.code, "detail": str(exc)}, refused_status, headers=headers)
    if isinstance(exc, ReportRefused):
        return Response({"error": ErrorCode.FORBIDDEN, "detail": str(exc)}, 403)
    if isinstance(exc, DatabaseError | psycopg.Error):
        return unavailable_response(Response)
    response = exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, APIException) and isinstance(detail, dict) and set(detail) == {"detail"}:
        detail = detail["detail"]
    code = _CODES_BY_STATUS.get(response.status_code, ErrorCode.INVALID_REQUEST)
    response.data = {"error": code, "detail": detail}
    return response


class AgentAPIView(APIView):
    """Base of the agent views: agent tokens only, JSON only, protocol error bodies."""

    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAgent]
    parser_classes = [BoundedJSONParser]
    renderer_classes = [JSONRenderer]
    throttle_classes: list = []

    def get_exception_handler(self):
        return agent_exception_handler


class RegisterView(AgentAPIView):
    """POST a registration token, name, version and capabilities; get an access token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        request=RegisterSerializer,
        responses={201: AccessTokenSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
                   403: ErrorSerializer},
        auth=[],
    )
    def post(self, request: Request) -> Response:
        serializer = RegisterSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        _agent, token = register_agent(
            data["registration_token"], data["name"], data["version"], data["capabilities"]
        )
        return Response(token, status=status.HTTP_201_CREATED)


class TokenRefreshView(AgentAPIView):
    """POST with a valid (or recently expired) access token; get a fresh one."""

    authentication_classes = [AgentRefreshAuthentication]

    @extend_schema(request=None, responses={200: AccessTokenSerializer, 401: ErrorSerializer})
    def post(self, request: Request) -> Response:
        return Response(refresh_access_token(request.user))


class HeartbeatView(AgentAPIView):
    """POST from an idle agent: keeps it connected; may carry new version or capabilities."""

    @extend_schema(
        request=HeartbeatSerializer,
        responses={200: HeartbeatResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = HeartbeatSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        return Response(
            record_heartbeat(request.user, data.get("version"), data.get("capabilities"))
        )


class StatusView(AgentAPIView):
    """POST what was applied, per publish and revision; idempotent."""

    @extend_schema(
        request=StatusReportSerializer,
        responses={200: StatusResponseSerializer, 400: ErrorSerializer, 401: ErrorSerializer,
                   403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        serializer = StatusReportSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        results = ingest_status_report(
            request.user.cluster_id, serializer.validated_data["reports"]
        )
        return Response({"results": results})


UNAVAILABLE_DETAIL = "the control plane cannot reach its database; retry with backoff"
RETRY_AFTER_SECONDS = "5"


def unavailable_response(response_class):
    """503 in the protocol's error shape: the agent retries with backoff, and keeps the
    cluster as it is meanwhile."""
    return response_class(
        {"error": ErrorCode.UNAVAILABLE, "detail": UNAVAILABLE_DETAIL},
        status=503,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _error(status_code: int, code: str, detail: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": code, "detail": detail}, status=status_code)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


async def desired_state(request: HttpRequest) -> HttpResponse:
    """GET the cluster's desired state; `If-None-Match` and `?wait=N` make it a long-poll."""
    if request.method not in ("GET", "HEAD"):
        return _error(405, ErrorCode.METHOD_NOT_ALLOWED, "use GET", Allow="GET, HEAD")
    raw_wait = request.GET.get("wait", "0")
    if not raw_wait.isdigit():
        return _error(400, ErrorCode.INVALID_REQUEST, "wait: expected whole seconds, e.g. 30")
    wait = min(int(raw_wait), settings.AGENT_LONGPOLL_MAX_WAIT)
    token = bearer_token(request.headers.get("Authorization"))
    try:
        if token is None:
            raise InvalidAgentToken("missing bearer token")
        answer = await serve_desired_state(token, request.headers.get("If-None-Match"), wait)
    except InvalidAgentToken as exc:
        return _error(
            401, ErrorCode.INVALID_TOKEN, str(exc), WWW_Authenticate=AUTHENTICATE_HEADER
        )
    except (DatabaseError, psycopg.Error):
        return unavailable_response(JsonResponse)
    response = HttpResponse(answer.body or b"", status=answer.status)
    if answer.body is None:
        del response["Content-Type"]
    else:
        response["Content-Type"] = "application/json"
    response["ETag"] = format_etag(answer.revision)
    response["Cache-Control"] = "private, no-cache"
    return response
