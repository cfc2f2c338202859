"""The control-plane client: the only module of the agent that speaks HTTP to Imp-Gateway.

Registration and access tokens (stored in the token file and refreshed at two thirds of their
life), the desired-state long-poll with `If-None-Match`, status reports and heartbeats, in
the wire format of `clusters.protocol`. Tokens never reach a log line or an exception text.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx

from clusters.protocol import (
    DESIRED_STATE_PATH,
    HEARTBEAT_PATH,
    MAX_REPORTS_PER_REQUEST,
    REGISTER_PATH,
    STATUS_PATH,
    TOKEN_REFRESH_PATH,
    DesiredStateResponse,
    ErrorCode,
    HeartbeatRequest,
    HeartbeatResponse,
    PublishReport,
    StatusOutcome,
    format_etag,
    parse_etag,
)
from publishing.translation.spec import Capabilities

from .logs import log_event, warn_event

# Refresh when this share of a token's life has passed.
REFRESH_AT = 2 / 3
_FATAL_CODES = {ErrorCode.INVALID_REGISTRATION_TOKEN, ErrorCode.AGENT_DISABLED}


def agent_version() -> str:
    try:
        return metadata.version("imp-gateway")
    except metadata.PackageNotFoundError:
        return "0.0.0"


class PlatformError(Exception):
    """A control-plane request that failed: `status` 0 means the server was not reached."""

    def __init__(self, status: int, code: str, detail: str) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        where = f"HTTP {status} {code}" if status else code
        super().__init__(f"{where}: {detail}" if detail else where)

    @property
    def retryable(self) -> bool:
        return self.status == 0 or self.status == 429 or self.status >= 500

    @property
    def fatal(self) -> bool:
        """Needs an operator: a used or unknown registration token, or a disabled agent."""
        return self.code in _FATAL_CODES


class AuthenticationError(PlatformError):
    """The agent has no way to authenticate any more (its token and registration are gone)."""

    @property
    def fatal(self) -> bool:
        return True


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_at: datetime
    agent_id: int
    obtained_at: datetime

    def refresh_due(self, now: datetime) -> bool:
        return now >= self.obtained_at + (self.expires_at - self.obtained_at) * REFRESH_AT

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at


def _parse_time(value: str) -> datetime:
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class TokenFile:
    """The token file: the agent's access token as JSON (server, name, token, expiry), or a
    registration token put there by an operator. Written atomically, readable by owner only."""

    def __init__(self, path: Path, server: str, name: str) -> None:
        self.path = path
        self.server = server
        self.name = name

    def read(self) -> tuple[AccessToken | None, str]:
        """The stored access token (when it belongs to this server and agent name) and a
        registration token found in the file instead."""
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return None, ""
        if not text:
            return None, ""
        if not text.startswith("{"):
            return None, text
        try:
            stored = json.loads(text)
            if stored.get("server") != self.server or stored.get("name") != self.name:
                return None, ""
            return AccessToken(
                token=stored["token"],
                expires_at=_parse_time(stored["expires_at"]),
                agent_id=int(stored["agent_id"]),
                obtained_at=_parse_time(stored["obtained_at"]),
            ), ""
        except (ValueError, KeyError, TypeError):
            return None, ""

    def write(self, access: AccessToken) -> None:
        document = {
            "server": self.server,
            "name": self.name,
            "agent_id": access.agent_id,
            "token": access.token,
            "expires_at": access.expires_at.isoformat(),
            "obtained_at": access.obtained_at.isoformat(),
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.path.with_name(f".{self.path.name}.{os.getpid()}")
        descriptor = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(document, handle)
        os.replace(scratch, self.path)


@dataclass(frozen=True)
class DesiredStateAnswer:
    """A desired-state poll: `document` is None when nothing changed (304)."""

    revision: int | None
    document: DesiredStateResponse | None


class PlatformClient:
    """Talks to one control plane as one agent; safe to share between the agent's threads."""

    def __init__(
        self,
        server: str,
        *,
        name: str,
        registration_token: str = "",
        token_file: Path | None = None,
        capabilities: Callable[[], Capabilities] | None = None,
        timeout: float = 15.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self.name = name
        self.version = agent_version()
        self._registration_token = registration_token
        self._token_file = TokenFile(token_file, self.server, name) if token_file else None
        self._capabilities = capabilities or (lambda: {})
        self._access: AccessToken | None = None
        self._auth_lock = threading.RLock()
        headers = {"User-Agent": f"imp-gateway-agent/{self.version}"}
        self._client = httpx.Client(
            base_url=self.server, timeout=timeout, headers=headers, transport=transport
        )
        self._poll_client = httpx.Client(
            base_url=self.server, timeout=timeout, headers=headers, transport=transport
        )
        if self._token_file is not None:
            stored, registration = self._token_file.read()
            self._access = stored
            if registration and not self._registration_token:
                self._registration_token = registration

    def close(self) -> None:
        self._client.close()
        self._poll_client.close()

    @property
    def agent_id(self) -> int | None:
        return self._access.agent_id if self._access else None

    # --- HTTP -----------------------------------------------------------------------------

    def _send(
        self, client: httpx.Client, method: str, path: str, *, token: str | None = None,
        json_body: Any = None, headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None, timeout: float | None = None,
    ) -> httpx.Response:
        request_headers = dict(headers or {})
        if token:
            request_headers["Authorization"] = f"Bearer {token}"
        try:
            response = client.request(
                method, path, json=json_body, headers=request_headers, params=params,
                timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT,
            )
        except httpx.HTTPError as exc:
            raise PlatformError(0, "unreachable", f"{self.server}: {type(exc).__name__}") from None
        if response.status_code >= 400:
            raise self._error(response)
        return response

    @staticmethod
    def _error(response: httpx.Response) -> PlatformError:
        code, detail = f"http_{response.status_code}", response.reason_phrase
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            code = body["error"]
            raw = body.get("detail", "")
            detail = raw if isinstance(raw, str) else json.dumps(raw, ensure_ascii=False)
        return PlatformError(response.status_code, code, detail[:500])

    # --- Tokens ---------------------------------------------------------------------------

    def _store(self, body: dict[str, Any]) -> AccessToken:
        access = AccessToken(
            token=body["token"],
            expires_at=_parse_time(body["expires_at"]),
            agent_id=int(body["agent_id"]),
            obtained_at=datetime.now(UTC),
        )
        self._access = access
        if self._token_file is not None:
            try:
                self._token_file.write(access)
            except OSError as exc:
                warn_event("token_store_failed", path=str(self._token_file.path),
                          error=exc.strerror)
        return access

    def register(self) -> AccessToken:
        """Exchange the registration token for an access token (with the capabilities)."""
        if not self._registration_token:
            raise AuthenticationError(
                401, ErrorCode.INVALID_TOKEN,
                "the stored access token is no longer accepted and no registration token is "
                "configured; create one in the control plane",
            )
        capabilities = dict(self._capabilities())
        body: dict[str, Any] = {
            "registration_token": self._registration_token,
            "name": self.name,
            "version": self.version,
            "capabilities": capabilities,
        }
        if capabilities.get("gateway_class_names"):
            body["gateway_class_names"] = capabilities["gateway_class_names"]
        response = self._send(self._client, "POST", REGISTER_PATH, json_body=body)
        access = self._store(response.json())
        log_event("registered", server=self.server, agent=self.name, agent_id=access.agent_id,
                  expires_at=access.expires_at.isoformat())
        return access

    def _refresh(self, current: AccessToken) -> AccessToken:
        response = self._send(self._client, "POST", TOKEN_REFRESH_PATH, token=current.token,
                              json_body={})
        access = self._store(response.json())
        log_event("token_refreshed", agent_id=access.agent_id,
                  expires_at=access.expires_at.isoformat())
        return access

    def token(self) -> str:
        """A usable access token: the stored one, refreshed when due, else a new registration."""
        with self._auth_lock:
            now = datetime.now(UTC)
            current = self._access
            if current is not None and not current.refresh_due(now):
                return current.token
            if current is not None:
                try:
                    return self._refresh(current).token
                except PlatformError as exc:
                    if not (exc.status == 401 and exc.code == ErrorCode.INVALID_TOKEN):
                        if not current.expired(now):
                            return current.token  # refresh again later; this one still works
                        raise
                    self._access = None
            return self.register().token

    def _forget(self, token: str) -> None:
        with self._auth_lock:
            if self._access is not None and self._access.token == token:
                # Rejected before its time: try a refresh (within the server's grace), then
                # a registration.
                self._access = AccessToken(
                    self._access.token, self._access.expires_at, self._access.agent_id,
                    obtained_at=self._access.expires_at - timedelta(days=3650),
                )

    def _authorized(self, client: httpx.Client, method: str, path: str, **kwargs: Any
                    ) -> httpx.Response:
        token = self.token()
        try:
            return self._send(client, method, path, token=token, **kwargs)
        except PlatformError as exc:
            if exc.status != 401:
                raise
            self._forget(token)
        return self._send(client, method, path, token=self.token(), **kwargs)

    # --- The protocol ---------------------------------------------------------------------

    def desired_state(self, known_revision: int | None, wait: int) -> DesiredStateAnswer:
        """The cluster's desired state, or None when `known_revision` is still current after
        waiting up to `wait` seconds on the server."""
        headers = {}
        params: dict[str, Any] = {}
        if known_revision is not None:
            headers["If-None-Match"] = format_etag(known_revision)
            if wait > 0:
                params["wait"] = wait
        response = self._authorized(
            self._poll_client, "GET", DESIRED_STATE_PATH, headers=headers, params=params,
            timeout=wait + 15.0,
        )
        if response.status_code == 304:
            return DesiredStateAnswer(known_revision, None)
        try:
            document = response.json()
            revision = int(document["revision"])
            if not isinstance(document["publishes"], list) or not isinstance(
                document["removals"], list
            ):
                raise TypeError("publishes and removals must be lists")
            for publish in document["publishes"]:
                int(publish["publish_id"]), int(publish["revision"])
                if not isinstance(publish["spec"], dict):
                    raise TypeError("spec must be an object")
            document["cluster"]["namespace"]  # noqa: B018 - shape check
        except (ValueError, KeyError, TypeError) as exc:
            # A partial or malformed answer is no desired state: nothing may be pruned from it.
            raise PlatformError(response.status_code, "malformed_desired_state", str(exc)
                                ) from None
        etag_revision = parse_etag(response.headers.get("ETag"))
        return DesiredStateAnswer(etag_revision if etag_revision is not None else revision,
                                  document)

    def report_status(self, reports: list[PublishReport]) -> list[StatusOutcome]:
        """Send status reports, in batches the server accepts."""
        outcomes: list[StatusOutcome] = []
        for start in range(0, len(reports), MAX_REPORTS_PER_REQUEST):
            batch = reports[start : start + MAX_REPORTS_PER_REQUEST]
            response = self._authorized(self._client, "POST", STATUS_PATH,
                                        json_body={"reports": batch})
            outcomes.extend(response.json().get("results", []))
        return outcomes

    def heartbeat(self, payload: HeartbeatRequest) -> HeartbeatResponse:
        body = {"version": self.version, **payload}
        response = self._authorized(self._client, "POST", HEARTBEAT_PATH, json_body=body)
        return response.json()
