"""End to end (issue 7's "done when"): a customer subscribes and gets a key; the key appears in
the Envoy Gateway credential Secret the agent applies to the (simulated) cluster; after
revocation it is gone from there, and another cluster never sees it."""

from __future__ import annotations

import base64

import pytest

from catalog import services
from tests.factories import CustomerFactory

from .agent_harness import (
    AgentProcess,
    SimulatedCluster,
    agent_args,
    make_cluster,
    make_publish,
    publish_now,
    registration_token,
    wait_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(150)]



def credentials(simulated: SimulatedCluster, publish_id: int) -> dict[str, str]:
    """Every client id -> API key in the publish's credential Secrets in the cluster."""
    found = {}
    for (kind, _name), item in simulated.publish_objects(publish_id).items():
        if kind == "Secret":
            for client_id, value in (item.get("data") or {}).items():
                found[client_id] = base64.b64decode(value).decode()
    return found


def api_key_auth(simulated: SimulatedCluster, publish_id: int) -> dict | None:
    for (kind, _name), item in simulated.publish_objects(publish_id).items():
        if kind == "SecurityPolicy":
            return item["spec"].get("apiKeyAuth")
    return None


def test_a_customers_key_reaches_the_cluster_and_leaves_it_when_revoked(
    control_plane, simulated, tmp_path, settings
):
    settings.API_KEY_ROTATION_GRACE = 0
    cluster = make_cluster()
    publish = make_publish(cluster, "payments", routes=1)
    publish.environment = "prod"
    publish.auth_mode = "apikey"
    publish.save()
    publish_now(publish)
    agent = AgentProcess(
        agent_args(
            control_plane.url,
            simulated.kubeconfig,
            name="agent-0",
            token=registration_token(cluster),
            token_file=tmp_path / "token.json",
        ),
        tmp_path / "agent.log",
    )
    try:
        assert wait_until(lambda: api_key_auth(simulated, publish.pk) is not None, 30), agent.log()
        assert credentials(simulated, publish.pk) == {}

        # The customer subscribes and creates a key: it is served to the gateway.
        customer = CustomerFactory(tenant=publish.tenant)
        subscription = services.request_subscription(customer, publish.product, "prod")
        issued = services.create_api_key(subscription, "checkout")
        consumer = f"sub-{subscription.pk}"
        assert wait_until(
            lambda: credentials(simulated, publish.pk) == {consumer: issued.secret}, 20
        ), (credentials(simulated, publish.pk), agent.log())
        # The agent applies the Secret before the SecurityPolicy that references it (apply
        # order): the reference may land a moment after the credentials.
        def one_secret_ref() -> bool:
            refs = api_key_auth(simulated, publish.pk)["credentialRefs"]
            return len(refs) == 1 and refs[0]["kind"] == "Secret"

        assert wait_until(one_secret_ref, 20), (api_key_auth(simulated, publish.pk), agent.log())

        # Rotation swaps the secret in the cluster.
        rotated = services.rotate_api_key(issued.key)
        assert wait_until(
            lambda: credentials(simulated, publish.pk) == {consumer: rotated.secret}, 20
        ), (credentials(simulated, publish.pk), agent.log())

        # Revocation takes it out of the cluster.
        services.revoke_api_key(issued.key)
        assert wait_until(lambda: credentials(simulated, publish.pk) == {}, 20), (
            credentials(simulated, publish.pk),
            agent.log(),
        )
        assert wait_until(
            lambda: (
                not [key for key in simulated.publish_objects(publish.pk) if key[0] == "Secret"]
            ),
            10,
        )

        log = agent.log()
        assert issued.secret not in log and rotated.secret not in log
    finally:
        code = agent.terminate()
    assert code == 0, agent.log()
