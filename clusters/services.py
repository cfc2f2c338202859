"""Operations on clusters and their agents: the desired-state revision agents follow,
registration, token checks, heartbeats and capabilities."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from django.conf import settings
from django.db import connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from impgateway import audit, metrics

from .choices import AgentStatus
from .models import Agent, Cluster, RegistrationToken
from .protocol import AccessTokenResponse, HeartbeatResponse
from .tokens import (
    AccessClaims,
    InvalidAgentToken,
    hash_registration_secret,
    issue_access_token,
    new_registration_secret,
)
from .wakeup import publish_wakeups

logger = logging.getLogger(__name__)


class _PendingBump:
    """The clusters one transaction changed; runs once when that transaction commits."""

    def __init__(self, using: str) -> None:
        self.using = using
        self.cluster_ids: set[int] = set()

    def __call__(self) -> None:
        _bump_now(sorted(self.cluster_ids), self.using)


def bump_desired_state_on_commit(cluster_ids: Iterable[int], using: str = "default") -> None:
    """Raise the desired-state revision of these clusters once, after the transaction commits.

    Called by every change that alters what a cluster should run. However often one
    transaction calls it, each cluster goes up by exactly one, and only if the transaction
    commits; outside a transaction the bump happens at once.
    """
    ids = {int(pk) for pk in cluster_ids if pk is not None}
    if not ids:
        return
    connection = connections[using]
    if not connection.in_atomic_block:
        _bump_now(sorted(ids), using)
        return
    # Find this transaction's pending bump among its on-commit callbacks: a rolled-back
    # transaction discards them, so a stale bump can never swallow a later transaction's ids.
    for _savepoints, callback, _robust in connection.run_on_commit:
        if isinstance(callback, _PendingBump):
            callback.cluster_ids.update(ids)
            return
    pending = _PendingBump(using)
    pending.cluster_ids.update(ids)
    transaction.on_commit(pending, using=using)


def _bump_now(cluster_ids: list[int], using: str) -> None:
    if not cluster_ids:
        return
    clusters = Cluster.objects.using(using).filter(pk__in=cluster_ids)
    bumped = clusters.update(desired_state_revision=F("desired_state_revision") + 1)
    metrics.revision_bumps.inc(bumped)
    # Announce the revisions as they are now (never older than this bump), one per cluster.
    publish_wakeups(dict(clusters.values_list("pk", "desired_state_revision")))


# --- Registration -------------------------------------------------------------------------


class RegistrationRefused(Exception):
    """A registration that cannot go ahead; `code` is a clusters.protocol.ErrorCode."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(message)


def create_registration_token(
    cluster: Cluster,
    ttl: timedelta | None = None,
    user=None,
    description: str = "",
) -> tuple[RegistrationToken, str]:
    """A new one-time registration token for the cluster, and its secret (shown only now)."""
    lifetime = ttl if ttl is not None else timedelta(seconds=settings.AGENT_REGISTRATION_TOKEN_TTL)
    if lifetime <= timedelta(0):
        raise ValueError("ttl: a registration token must live for some time")
    secret, token_hash = new_registration_secret()
    token = RegistrationToken.objects.create(
        cluster=cluster,
        token_hash=token_hash,
        description=description,
        expires_at=timezone.now() + lifetime,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    audit.record(user, audit.AuditAction.CREATE, token, None, audit.snapshot(token))
    logger.info("Registration token #%s created for cluster %s", token.pk, cluster.name)
    return token, secret


@transaction.atomic
def register_agent(
    secret: str, name: str, version: str, capabilities: dict
) -> tuple[Agent, AccessTokenResponse]:
    """Exchange a registration token for an access token of the agent called `name`.

    The token is used up only when registration succeeds. An agent registering again under
    its name gets a new token generation: tokens of the previous instance stop working.
    Raises RegistrationRefused.
    """
    now = timezone.now()
    claimed = RegistrationToken.objects.filter(
        token_hash=hash_registration_secret(secret), used_at__isnull=True, expires_at__gt=now
    )
    # One conditional write: of two agents presenting one token, exactly one gets it.
    if claimed.update(used_at=now) != 1:
        raise RegistrationRefused(
            "invalid_registration_token",
            "registration_token: unknown, already used or expired; ask an operator for a new one",
        )
    registration = RegistrationToken.objects.select_related("cluster").get(
        token_hash=hash_registration_secret(secret)
    )
    cluster = registration.cluster
    agent = Agent.objects.select_for_update().filter(cluster=cluster, name=name).first()
    if agent is not None and not agent.enabled:
        raise RegistrationRefused(
            "agent_disabled",
            f"name: agent '{name}' of cluster '{cluster.name}' is disabled; "
            "an operator must enable it (or delete it) first",
        )
    if agent is None:
        agent = Agent.objects.create(
            cluster=cluster,
            name=name,
            version=version,
            status=AgentStatus.CONNECTED,
            last_seen_at=now,
        )
    else:
        agent.version = version
        agent.status = AgentStatus.CONNECTED
        agent.last_seen_at = now
        agent.token_generation += 1
        agent.save(
            update_fields=["version", "status", "last_seen_at", "token_generation", "updated"]
        )
    RegistrationToken.objects.filter(pk=registration.pk).update(agent=agent)
    update_capabilities(cluster.pk, capabilities, now)
    logger.info(
        "Agent %s (#%s) of cluster %s registered with registration token #%s",
        agent.name,
        agent.pk,
        cluster.name,
        registration.pk,
    )
    return agent, _access_token(agent.pk, cluster.pk, agent.token_generation)


def _access_token(agent_id: int, cluster_id: int, generation: int) -> AccessTokenResponse:
    token, expires_at = issue_access_token(agent_id, cluster_id, generation)
    return {
        "token": token,
        "expires_at": expires_at.isoformat().replace("+00:00", "Z"),
        "agent_id": agent_id,
    }


# --- Authenticated agents -----------------------------------------------------------------


@dataclass(frozen=True)
class AgentSession:
    """An authenticated agent request: which agent, which cluster, the cluster's revision.

    DRF's `request.user` for agent views; `is_authenticated` makes it count as logged in there,
    and nothing else in the project accepts it.
    """

    agent_id: int
    cluster_id: int
    generation: int
    desired_state_revision: int
    token_expires_at: datetime
    is_authenticated: bool = True
    is_anonymous: bool = False


def authenticate_agent(claims: AccessClaims, now: datetime | None = None) -> AgentSession:
    """Check a verified token against its agent and note that the agent was seen.

    One query reads the agent and its cluster's revision; a second writes last seen, at most
    every AGENT_SEEN_WRITE_INTERVAL seconds (or when the agent was marked disconnected).
    Raises InvalidAgentToken for a disabled, re-registered or deleted agent.
    """
    now = now or timezone.now()
    session, seen_due = agent_session(claims, _read_agent(claims.agent_id, claims.cluster_id), now)
    if seen_due:
        note_agent_seen(claims.agent_id, now)
    return session


def agent_session(
    claims: AccessClaims, row: tuple | None, now: datetime
) -> tuple[AgentSession, bool]:
    """Check the agent row (`read_agent_sql`) of a verified token: the session, and whether the
    agent's last seen is due to be written. Raises InvalidAgentToken."""
    if row is None:
        raise InvalidAgentToken("token revoked: the agent no longer exists")
    enabled, generation, status, last_seen_at, revision = row
    if not enabled or generation != claims.generation:
        raise InvalidAgentToken("token revoked")
    if last_seen_at is not None and timezone.is_naive(last_seen_at):
        last_seen_at = timezone.make_aware(last_seen_at, UTC)  # SQLite stores UTC, naive
    seen_due = (
        status != AgentStatus.CONNECTED
        or last_seen_at is None
        or now - last_seen_at >= timedelta(seconds=settings.AGENT_SEEN_WRITE_INTERVAL)
    )
    session = AgentSession(
        agent_id=claims.agent_id,
        cluster_id=claims.cluster_id,
        generation=claims.generation,
        desired_state_revision=revision,
        token_expires_at=claims.expires_at,
    )
    return session, seen_due


def note_agent_seen(agent_id: int, now: datetime) -> None:
    """Record that the agent made a request (and so is connected)."""
    Agent.objects.filter(pk=agent_id).update(last_seen_at=now, status=AgentStatus.CONNECTED)


def _read_agent(agent_id: int, cluster_id: int) -> tuple | None:
    connection = connections["default"]
    with connection.cursor() as cursor:
        cursor.execute(read_agent_sql(connection.vendor), [agent_id, cluster_id])
        return cursor.fetchone()


@lru_cache(maxsize=4)
def read_agent_sql(vendor: str) -> str:
    """The query for (enabled, token generation, status, last seen, cluster revision) of an
    agent, with the agent id and cluster id as its two parameters.

    Every agent request runs it, so it is one indexed join written in SQL: compiling the
    equivalent ORM query costs twice what the database does.
    """
    quote = connections["default"].ops.quote_name
    agent, cluster = Agent._meta, Cluster._meta

    def column(model, field: str) -> str:
        return quote(model.get_field(field).column)

    # Identifiers come from model metadata; the values are parameters.
    return (
        f"SELECT a.{column(agent, 'enabled')}, a.{column(agent, 'token_generation')}, "  # noqa: S608
        f"a.{column(agent, 'status')}, a.{column(agent, 'last_seen_at')}, "
        f"c.{column(cluster, 'desired_state_revision')} "
        f"FROM {quote(agent.db_table)} a INNER JOIN {quote(cluster.db_table)} c "
        f"ON c.{column(cluster, 'id')} = a.{column(agent, 'cluster')} "
        f"WHERE a.{column(agent, 'id')} = %s AND a.{column(agent, 'cluster')} = %s"
    )


def refresh_access_token(session: AgentSession) -> AccessTokenResponse:
    """A fresh access token for an agent whose current (or recently expired) one checked out."""
    return _access_token(session.agent_id, session.cluster_id, session.generation)


def record_heartbeat(
    session: AgentSession, version: str | None = None, capabilities: dict | None = None
) -> HeartbeatResponse:
    """An idle agent's sign of life, optionally with its new version or capabilities."""
    now = timezone.now()
    if version:
        Agent.objects.filter(pk=session.agent_id).exclude(version=version).update(version=version)
    if capabilities is not None:
        update_capabilities(session.cluster_id, capabilities, now)
    return {
        "agent_id": session.agent_id,
        "status": AgentStatus.CONNECTED.value,
        "desired_state_revision": session.desired_state_revision,
        "server_time": now.isoformat().replace("+00:00", "Z"),
    }


def update_capabilities(cluster_id: int, capabilities: dict, now: datetime | None = None) -> bool:
    """Store what an agent reported its cluster can run; True when it changed.

    Capabilities do not change the desired state (agents translate with their own), so no
    revision bump follows.
    """
    normalized = normalize_capabilities(capabilities)
    current = Cluster.objects.filter(pk=cluster_id).values_list("capabilities", flat=True).first()
    if current == normalized:
        return False
    Cluster.objects.filter(pk=cluster_id).update(
        capabilities=normalized, capabilities_updated_at=now or timezone.now()
    )
    return True


def normalize_capabilities(capabilities: dict) -> dict:
    """Capabilities in one canonical form: sorted, duplicates dropped, empty parts left out."""
    normalized: dict = {}
    if capabilities.get("kubernetes_version"):
        normalized["kubernetes_version"] = capabilities["kubernetes_version"]
    normalized["gateway_classes"] = sorted(set(capabilities.get("gateway_classes") or []))
    if capabilities.get("gateway_class_names"):
        normalized["gateway_class_names"] = dict(
            sorted(capabilities["gateway_class_names"].items())
        )
    normalized["crds"] = sorted(set(capabilities.get("crds") or []))
    return normalized


# --- Operators and housekeeping -----------------------------------------------------------


@transaction.atomic
def set_agents_enabled(agent_ids: Iterable[int], enabled: bool, user=None) -> int:
    """Enable or disable agents; disabling revokes every token they hold, at once: their
    clusters' long-polls are woken, and a woken request checks its agent before it answers
    (clusters.desired_state), so a disabled agent's wait ends with 401. Returns how many
    agents changed; each change is audited."""
    agents = Agent.objects.select_for_update().filter(pk__in=list(agent_ids))
    # Disabling an agent again still revokes whatever token it may have been given since.
    selected = agents.filter(enabled=False) if enabled else agents
    changing = {agent.pk: agent for agent in selected}
    if not changing:
        return 0
    befores = {pk: audit.snapshot(agent) for pk, agent in changing.items()}
    changed = Agent.objects.filter(pk__in=changing)
    if enabled:
        changed.update(enabled=True)
    else:
        changed.update(
            enabled=False,
            status=AgentStatus.DISCONNECTED,
            token_generation=F("token_generation") + 1,
        )
        bump_desired_state_on_commit({agent.cluster_id for agent in changing.values()})
    for agent in Agent.objects.filter(pk__in=changing).select_related("cluster"):
        after = audit.snapshot(agent)
        audit.record(user, audit.AuditAction.UPDATE, agent, befores[agent.pk], after)
    logger.info("Agents %s %s", sorted(changing), "enabled" if enabled else "disabled")
    return len(changing)


@transaction.atomic
def delete_agent(agent: Agent, user=None) -> None:
    """Delete an agent: its tokens stop working at once, like disabling it, and its cluster's
    waiting long-polls are woken so that its own wait ends with 401."""
    audit.record(user, audit.AuditAction.DELETE, agent, audit.snapshot(agent), None)
    bump_desired_state_on_commit([agent.cluster_id])
    agent.delete()


def mark_silent_agents_disconnected(now: datetime | None = None) -> int:
    """Mark agents unheard of for AGENT_DISCONNECT_AFTER seconds disconnected; how many."""
    cutoff = (now or timezone.now()) - timedelta(seconds=settings.AGENT_DISCONNECT_AFTER)
    return Agent.objects.filter(
        Q(last_seen_at__lt=cutoff) | Q(last_seen_at__isnull=True), status=AgentStatus.CONNECTED
    ).update(status=AgentStatus.DISCONNECTED)


REGISTRATION_TOKEN_RETENTION = timedelta(days=7)


def purge_registration_tokens(now: datetime | None = None) -> int:
    """Delete registration tokens that expired more than a week ago; how many."""
    cutoff = (now or timezone.now()) - REGISTRATION_TOKEN_RETENTION
    deleted, _by_model = RegistrationToken.objects.filter(expires_at__lt=cutoff).delete()
    return deleted
