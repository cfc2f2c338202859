"""API keys: encrypted at rest, unique, rotated with a grace period, revoked, expired by the
task, delivered only to the clusters serving the product, and never logged."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from catalog import services, tasks
from catalog.key_encryption import UndecryptableSecret, decrypt_secret, hash_secret
from catalog.models import APIKey
from clusters.desired_state import render_desired_state

from .customer_data import active_subscription, provider_world, revisions

# Clusters are bumped when transactions commit: these tests commit.
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world():
    return provider_world()


def served_consumers(cluster) -> dict[int, list]:
    """The consumers of each publish in the cluster's rendered desired state."""
    import json

    _revision, body = render_desired_state(cluster.pk)
    return {item["publish_id"]: item["spec"]["consumers"] for item in json.loads(body)["publishes"]}


def served_keys(cluster) -> set[str]:
    return {
        key
        for consumers in served_consumers(cluster).values()
        for consumer in consumers
        for key in consumer["api_keys"]
    }


def test_the_secret_is_stored_encrypted_and_hashed_never_in_clear(world):
    subscription = active_subscription(world["product"])
    issued = services.create_api_key(subscription, "ci")
    assert issued.secret.startswith("igw_") and len(issued.secret) > 40
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM catalog_apikey")
        stored = cursor.fetchall()
    assert issued.secret not in repr(stored)
    key = APIKey.objects.get()
    assert key.prefix == issued.secret[:12]
    assert key.secret_hash == hash_secret(issued.secret)
    assert decrypt_secret(key.secret_encrypted) == issued.secret


def test_a_new_encryption_key_keeps_keys_usable_and_the_command_reencrypts(world, settings):
    subscription = active_subscription(world["product"])
    issued = services.create_api_key(subscription, "ci")
    old_key = settings.API_KEY_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    settings.API_KEY_ENCRYPTION_KEYS = [new_key, old_key]
    assert served_keys(world["prod_a"]) == {issued.secret}
    before = APIKey.objects.get().secret_encrypted
    call_command("rotate_api_key_encryption")
    after = APIKey.objects.get().secret_encrypted
    assert after != before
    settings.API_KEY_ENCRYPTION_KEYS = [new_key]  # the old key is gone
    assert served_keys(world["prod_a"]) == {issued.secret}
    settings.API_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    with pytest.raises(UndecryptableSecret):
        render_desired_state(world["prod_a"].pk)


def test_two_keys_never_share_a_secret(world):
    first = services.create_api_key(active_subscription(world["product"]), "a").key
    second_subscription = active_subscription(world["other_product"])
    clash = APIKey(
        subscription=second_subscription,
        name="b",
        prefix=first.prefix,
        secret_hash=first.secret_hash,
        secret_encrypted="x",
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        clash.save()


def test_creating_a_key_bumps_exactly_the_clusters_serving_product_and_environment(world):
    clusters = [world[name] for name in ("prod_a", "prod_b", "dev", "elsewhere")]
    subscription = active_subscription(world["product"], "prod")
    before = revisions(*clusters)
    issued = services.create_api_key(subscription, "ci")
    after = revisions(*clusters)
    assert [b - a for a, b in zip(before, after, strict=True)] == [1, 1, 0, 0]
    assert served_keys(world["prod_a"]) == served_keys(world["prod_b"]) == {issued.secret}
    assert served_keys(world["dev"]) == set()
    assert served_keys(world["elsewhere"]) == set()
    consumers = next(iter(served_consumers(world["prod_a"]).values()))
    assert consumers == [{"name": f"sub-{subscription.pk}", "api_keys": [issued.secret]}]


def test_keys_follow_the_published_revision_not_edits_of_the_live_publish(world):
    """What a cluster serves is its publishes' current revisions: switching a published
    publish's auth mode or environment in the console or the API changes which keys reach
    the cluster only once it is published again."""
    from publishing import services as publishing
    from publishing.models import ProductPublish

    subscription = active_subscription(world["product"], "prod")
    issued = services.create_api_key(subscription, "ci")
    publish = ProductPublish.objects.get(cluster=world["prod_a"])
    ProductPublish.objects.filter(pk=publish.pk).update(auth_mode="none", environment="dev")
    assert served_keys(world["prod_a"]) == {issued.secret}
    before = revisions(world["prod_a"])
    rotated = services.rotate_api_key(issued.key)
    assert revisions(world["prod_a"]) == [before[0] + 1]  # still served: still bumped
    assert served_keys(world["prod_a"]) == {issued.secret, rotated.secret}  # old one in grace
    publishing.publish_revision(ProductPublish.objects.get(pk=publish.pk))
    assert served_consumers(world["prod_a"]) == {publish.pk: []}


def test_consumers_need_an_active_subscription_of_the_products_tenant(world):
    pending_product = world["product"]
    pending_product.requires_approval = True
    pending_product.save()
    subscription = active_subscription(pending_product, "prod")
    assert subscription.status == "pending"
    issued = services.create_api_key(subscription, "early")
    assert served_keys(world["prod_a"]) == set()
    before = revisions(world["prod_a"], world["dev"])
    services.approve_subscription(subscription)
    assert revisions(world["prod_a"], world["dev"]) == [before[0] + 1, before[1]]
    assert served_keys(world["prod_a"]) == {issued.secret}
    services.cancel_subscription(subscription)
    assert served_keys(world["prod_a"]) == set()
    assert APIKey.objects.get().revoked_at is not None


def test_rotation_keeps_the_old_secret_for_the_grace_period(world, settings):
    settings.API_KEY_ROTATION_GRACE = 3600
    subscription = active_subscription(world["product"])
    first = services.create_api_key(subscription, "ci")
    before = revisions(world["prod_a"])[0]
    second = services.rotate_api_key(first.key)
    assert revisions(world["prod_a"])[0] == before + 1
    assert second.secret != first.secret
    assert served_keys(world["prod_a"]) == {first.secret, second.secret}
    key = APIKey.objects.get()
    assert key.last_rotated is not None and key.prefix == second.secret[:12]
    # The grace period ends: the task takes the old secret out and bumps the clusters.
    later = timezone.now() + timedelta(seconds=3601)
    assert services.expire_api_keys(now=later) == 1
    assert revisions(world["prod_a"])[0] == before + 2
    assert served_keys(world["prod_a"]) == {second.secret}
    assert services.expire_api_keys(now=later) == 0


def test_rotation_without_grace_drops_the_old_secret_at_once(world, settings):
    settings.API_KEY_ROTATION_GRACE = 0
    first = services.create_api_key(active_subscription(world["product"]), "ci")
    second = services.rotate_api_key(first.key)
    assert served_keys(world["prod_a"]) == {second.secret}


def test_revoke_removes_the_key_and_its_ciphertext(world):
    first = services.create_api_key(active_subscription(world["product"]), "ci")
    services.rotate_api_key(first.key)
    before = revisions(world["prod_a"], world["elsewhere"])
    key = services.revoke_api_key(first.key)
    assert revisions(world["prod_a"], world["elsewhere"]) == [before[0] + 1, before[1]]
    assert key.secret_encrypted == key.previous_secret_encrypted == ""
    assert served_keys(world["prod_a"]) == set()
    with pytest.raises(ValidationError) as excinfo:
        services.revoke_api_key(key)
    assert "status" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        services.rotate_api_key(key)


def test_the_expiry_task_takes_expired_keys_out(world):
    subscription = active_subscription(world["product"])
    issued = services.create_api_key(
        subscription, "short", expires_at=timezone.now() + timedelta(minutes=5)
    )
    keeper = services.create_api_key(subscription, "long")
    assert served_keys(world["prod_a"]) == {issued.secret, keeper.secret}
    APIKey.objects.filter(pk=issued.key.pk).update(expires_at=timezone.now() - timedelta(1))
    # Already out of the rendering, before the task runs.
    assert served_keys(world["prod_a"]) == {keeper.secret}
    before = revisions(world["prod_a"], world["dev"])
    assert tasks.expire_api_keys() == 1
    assert revisions(world["prod_a"], world["dev"]) == [before[0] + 1, before[1]]
    assert APIKey.objects.get(pk=issued.key.pk).secret_encrypted == ""
    assert tasks.expire_api_keys() == 0


def test_past_expiry_and_missing_names_are_refused_naming_the_field(world):
    subscription = active_subscription(world["product"])
    with pytest.raises(ValidationError) as excinfo:
        services.create_api_key(subscription, "x", expires_at=timezone.now() - timedelta(1))
    assert list(excinfo.value.message_dict) == ["expires_at"]
    with pytest.raises(ValidationError) as excinfo:
        services.create_api_key(subscription, "  ")
    assert list(excinfo.value.message_dict) == ["name"]


def test_secrets_never_reach_the_logs(world, caplog, settings):
    settings.API_KEY_ROTATION_GRACE = 60
    caplog.set_level(logging.DEBUG)
    subscription = active_subscription(world["product"])
    first = services.create_api_key(subscription, "ci")
    second = services.rotate_api_key(first.key)
    render_desired_state(world["prod_a"].pk)
    services.revoke_api_key(second.key)
    text = caplog.text
    assert first.key.prefix in text or second.key.prefix in text
    for secret in (first.secret, second.secret):
        assert secret not in text
        assert secret[12:] not in text


def test_a_key_changed_in_a_rolled_back_transaction_bumps_nothing(world):
    subscription = active_subscription(world["product"])
    before = revisions(world["prod_a"])
    with pytest.raises(RuntimeError), transaction.atomic():
        services.create_api_key(subscription, "doomed")
        raise RuntimeError("roll back")
    assert revisions(world["prod_a"]) == before
    assert not APIKey.objects.exists()


def test_key_and_subscription_operations_are_audited_without_secrets(world, django_user_model):
    from impgateway.models import AuditEvent

    user = django_user_model.objects.create_user("keeper", password="pw-keeper-1")
    subscription = active_subscription(world["product"])
    issued = services.create_api_key(subscription, "ci", user=user)
    rotated = services.rotate_api_key(issued.key, user=user)
    services.revoke_api_key(issued.key, user=user)
    services.cancel_subscription(subscription, user=user)
    events = list(AuditEvent.objects.filter(username="keeper").order_by("pk"))
    assert [(e.content_type.model, e.action) for e in events] == [
        ("apikey", "create"),
        ("apikey", "update"),
        ("apikey", "update"),
        ("subscription", "update"),
    ]
    assert events[2].after["revoked_at"] is not None
    assert events[3].before["status"] == "active" and events[3].after["status"] == "cancelled"
    everything = repr([(e.before, e.after) for e in events])
    assert issued.secret not in everything and rotated.secret not in everything
    assert "secret_hash" not in everything and "secret_encrypted" not in everything
