"""The agent check of the desired-state endpoint on a real uvicorn server: on PostgreSQL it runs
on the event loop over async connections (clusters.desired_state.AgentReader), on SQLite on a
database thread. Either way a disabled or deleted agent's very next request is refused, and
the agent's last seen is written."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.db import connection
from django.utils import timezone

from clusters.choices import AgentStatus
from clusters.models import Agent
from clusters.services import read_agent_sql, set_agents_enabled
from tests.factories import AgentFactory, ClusterFactory

from .conftest import token_for

pytestmark = pytest.mark.django_db(transaction=True)
URL = "/api/v1/agent/desired-state"


def poll(server, token: str, etag: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if etag:
        headers["If-None-Match"] = etag
    return httpx.get(f"{server.url}{URL}", headers=headers, timeout=10)


def test_a_disabled_agents_very_next_poll_is_refused(server):
    agent = AgentFactory(cluster=ClusterFactory())
    token = token_for(agent)
    etag = poll(server, token).headers["ETag"]
    assert poll(server, token, etag).status_code == 304
    set_agents_enabled([agent.pk], enabled=False)
    refused = poll(server, token, etag)
    assert refused.status_code == 401
    assert refused.json()["detail"] == "token revoked"
    set_agents_enabled([agent.pk], enabled=True)
    assert poll(server, token, etag).status_code == 401  # re-enabling does not revive it


def test_a_deleted_agents_very_next_poll_is_refused(server):
    agent = AgentFactory(cluster=ClusterFactory())
    token = token_for(agent)
    etag = poll(server, token).headers["ETag"]
    assert poll(server, token, etag).status_code == 304
    agent.delete()
    refused = poll(server, token, etag)
    assert refused.status_code == 401
    assert "no longer exists" in refused.json()["detail"]


def test_a_poll_marks_a_disconnected_agent_connected_and_seen(server):
    agent = AgentFactory(cluster=ClusterFactory())
    token = token_for(agent)
    etag = poll(server, token).headers["ETag"]
    long_ago = timezone.now() - timedelta(hours=1)
    Agent.objects.filter(pk=agent.pk).update(
        status=AgentStatus.DISCONNECTED, last_seen_at=long_ago
    )
    assert poll(server, token, etag).status_code == 304
    agent.refresh_from_db()
    assert agent.status == AgentStatus.CONNECTED
    assert agent.last_seen_at > long_ago + timedelta(minutes=59)


def test_polls_go_on_after_the_database_closed_the_idle_connections(server):
    if connection.vendor != "postgresql":
        pytest.skip("the async agent check runs on PostgreSQL only")
    agent = AgentFactory(cluster=ClusterFactory())
    token = token_for(agent)
    etag = poll(server, token).headers["ETag"]
    assert poll(server, token, etag).status_code == 304
    with connection.cursor() as cursor:
        # The reader's connections are those whose last query was the agent check.
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() AND query = %s",
            # as the server sees it: psycopg sends the parameters as $1 and $2
            [read_agent_sql("postgresql").replace("%s", "$1", 1).replace("%s", "$2", 1)],
        )
        assert cursor.fetchall(), "no agent-check connection to close"
    assert poll(server, token, etag).status_code == 304
    set_agents_enabled([agent.pk], enabled=False)
    assert poll(server, token, etag).status_code == 401
