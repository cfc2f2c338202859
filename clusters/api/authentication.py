"""DRF authentication for agents: bearer access tokens, accepted by the agent views only.

No project setting lists these classes, so no user-facing view accepts an agent token; the
agent views list nothing else, so they accept no user session.
"""

from __future__ import annotations

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from ..services import AgentSession, authenticate_agent
from ..tokens import AccessClaims, InvalidAgentToken, bearer_token, decode_access_token

AUTHENTICATE_HEADER = 'Bearer realm="imp-gateway-agent"'


class AgentTokenAuthentication(BaseAuthentication):
    """`Authorization: Bearer <access token>`; `request.user` becomes an AgentSession."""

    def expired_grace(self) -> int:
        """Seconds an expired token is still accepted for (none, except for refreshing)."""
        return 0

    def authenticate(self, request) -> tuple[AgentSession, AccessClaims] | None:
        token = bearer_token(request.META.get("HTTP_AUTHORIZATION"))
        if token is None:
            return None
        try:
            claims = decode_access_token(token, expired_grace=self.expired_grace())
            session = authenticate_agent(claims)
        except InvalidAgentToken as exc:
            raise AuthenticationFailed(str(exc), code="invalid_token") from None
        return session, claims

    def authenticate_header(self, request) -> str:
        return AUTHENTICATE_HEADER


class AgentRefreshAuthentication(AgentTokenAuthentication):
    """For token refresh: also a token expired within AGENT_TOKEN_REFRESH_GRACE seconds."""

    def expired_grace(self) -> int:
        return settings.AGENT_TOKEN_REFRESH_GRACE


class IsAgent(BasePermission):
    """Only an authenticated agent (never a user, whatever else authenticated them)."""

    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, AgentSession)


class AgentTokenScheme(OpenApiAuthenticationExtension):
    """The agent token in the OpenAPI schema (registered by being defined)."""

    target_class = AgentTokenAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "JWT",
            "description": "An agent access token (docs/agent-protocol.md).",
        }


class AgentRefreshScheme(AgentTokenScheme):
    target_class = AgentRefreshAuthentication
    name = "agentTokenRefresh"
