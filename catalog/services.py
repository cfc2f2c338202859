"""Customer operations: customers (delete), subscriptions (request, approve, reject, cancel) and
API keys (create, rotate, revoke, expire). Admin actions, API views, tasks and commands call
these; each runs in one transaction, checks what only it can (who decides on a subscription),
and every change to the keys a cluster serves bumps exactly the clusters that serve the product
in the subscription's environment."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from clusters.services import bump_desired_state_on_commit
from impgateway import audit, rbac
from publishing.choices import AuthMode, PublishStatus
from publishing.models import ProductPublish
from publishing.translation.spec import ConsumerSpec

from .choices import APIKeyStatus, SubscriptionStatus
from .key_encryption import decrypt_secret, encrypt_secret, new_secret, reencrypt
from .models import APIKey, Customer, Product, Subscription

logger = logging.getLogger(__name__)

OPEN_STATUSES = (SubscriptionStatus.PENDING, SubscriptionStatus.ACTIVE)


@dataclass(frozen=True)
class IssuedKey:
    """A key as it was created or rotated, with its secret: shown once, never stored clear."""

    key: APIKey
    secret: str


# --- Which clusters serve a subscription --------------------------------------------------


def serving_cluster_ids(pairs: Iterable[tuple[int, str]]) -> set[int]:
    """The clusters that deliver API keys of these (product id, environment) pairs: those with
    a publish of the product whose current revision uses API keys in the environment."""
    pairs = set(pairs)
    if not pairs:
        return set()
    condition = Q(pk__in=[])
    for product_id, environment in pairs:
        condition |= Q(
            product_id=product_id, current_revision__spec__publish__environment=environment
        )
    # What the clusters serve is the current revision (an edit of the live publish changes
    # nothing until it is published): its environment and auth mode decide.
    return set(
        ProductPublish.objects.filter(
            condition,
            status=PublishStatus.PUBLISHED,
            current_revision__spec__publish__auth_mode=AuthMode.API_KEY,
        ).values_list("cluster_id", flat=True)
    )


def _bump_for(subscriptions: Iterable[Subscription]) -> None:
    bump_desired_state_on_commit(
        serving_cluster_ids((item.product_id, item.environment) for item in subscriptions)
    )


# --- Customers ----------------------------------------------------------------------------


@transaction.atomic
def delete_customer(customer: Customer, user=None) -> None:
    """Delete a customer with its subscriptions and API keys: the clusters that served its keys
    stop serving them."""
    active = list(Subscription.objects.filter(customer=customer, status=SubscriptionStatus.ACTIVE))
    audit.record(user, audit.AuditAction.DELETE, customer, audit.snapshot(customer), None)
    rbac.delete_objects([customer])
    _bump_for(active)
    logger.info("Customer %s deleted with %d active subscriptions", customer.slug, len(active))


# --- Subscriptions ------------------------------------------------------------------------


@transaction.atomic
def request_subscription(
    customer: Customer, product: Product, environment: str, user=None
) -> Subscription:
    """A customer's subscription to a product in an environment: pending when the product
    needs approval, else active at once. Raises ValidationError naming the field."""
    if customer.tenant_id != product.tenant_id:
        raise ValidationError({"product": "the product belongs to another provider (tenant)"})
    if Subscription.objects.filter(
        customer=customer, product=product, environment=environment, status__in=OPEN_STATUSES
    ).exists():
        raise ValidationError(
            {
                "environment": "the customer already has an open subscription to this product "
                "in this environment"
            }
        )
    now = timezone.now()
    needs_approval = product.requires_approval
    subscription = Subscription(
        customer=customer,
        product=product,
        environment=environment,
        status=SubscriptionStatus.PENDING if needs_approval else SubscriptionStatus.ACTIVE,
        requested_by=user if getattr(user, "is_authenticated", False) else None,
        decided_at=None if needs_approval else now,
    )
    subscription.full_clean(exclude=["requested_by", "decided_by"])
    try:
        with transaction.atomic():
            subscription.save()
    except IntegrityError:
        # Two requests raced past the check above; the constraint decided.
        raise ValidationError(
            {"environment": "the customer already has an open subscription to this product"}
        ) from None
    rbac.object_saved(subscription, None)
    audit.record(user, audit.AuditAction.CREATE, subscription, None, audit.snapshot(subscription))
    logger.info(
        "Subscription #%s of customer %s to %s (%s): %s",
        subscription.pk,
        customer.slug,
        product.slug,
        environment,
        subscription.status,
    )
    return subscription


def may_decide(user, subscription: Subscription) -> bool:
    """Whether the user decides on the subscription: providers who may change its product
    (a customer admin may change the subscription but must not approve it)."""
    return rbac.has_object_permission(
        user, rbac.permission_name(subscription.product, "change"), subscription.product
    )


def _locked(subscription: Subscription) -> Subscription:
    return Subscription.objects.select_for_update().get(pk=subscription.pk)


def _decide(subscription: Subscription, status: str, user) -> Subscription:
    # Tasks and commands decide as the system (no user); people only on their own products.
    if user is not None and not may_decide(user, subscription):
        raise PermissionDenied(
            gettext("Only the product's provider approves or rejects its subscriptions.")
        )
    locked = _locked(subscription)
    before = audit.snapshot(locked)
    if locked.status != SubscriptionStatus.PENDING:
        raise ValidationError(
            {"status": f"only a pending subscription can be decided; this one is {locked.status}"}
        )
    locked.status = status
    locked.decided_by = user if getattr(user, "is_authenticated", False) else None
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at", "updated"])
    audit.record(user, audit.AuditAction.UPDATE, locked, before, audit.snapshot(locked))
    logger.info("Subscription #%s %s", locked.pk, status)
    return locked


@transaction.atomic
def approve_subscription(subscription: Subscription, user=None) -> Subscription:
    """A provider approves a pending subscription: its keys start working. Raises
    PermissionDenied for a user who does not decide on it (`may_decide`), ValidationError
    unless it is pending."""
    approved = _decide(subscription, SubscriptionStatus.ACTIVE, user)
    _bump_for([approved])
    return approved


@transaction.atomic
def reject_subscription(subscription: Subscription, user=None) -> Subscription:
    """A provider rejects a pending subscription (permissions as for approving); keys made
    meanwhile are revoked."""
    rejected = _decide(subscription, SubscriptionStatus.REJECTED, user)
    _revoke_keys(APIKey.objects.filter(subscription=rejected, revoked_at__isnull=True))
    return rejected


@transaction.atomic
def cancel_subscription(subscription: Subscription, user=None) -> Subscription:
    """End a pending or active subscription; its keys are revoked and leave the clusters."""
    locked = _locked(subscription)
    if locked.status not in OPEN_STATUSES:
        raise ValidationError(
            {"status": f"only an open subscription can be cancelled; this one is {locked.status}"}
        )
    was_active = locked.status == SubscriptionStatus.ACTIVE
    before = audit.snapshot(locked)
    locked.status = SubscriptionStatus.CANCELLED
    locked.save(update_fields=["status", "updated"])
    audit.record(user, audit.AuditAction.UPDATE, locked, before, audit.snapshot(locked))
    _revoke_keys(APIKey.objects.filter(subscription=locked, revoked_at__isnull=True))
    if was_active:
        _bump_for([locked])
    logger.info("Subscription #%s cancelled", locked.pk)
    return locked


# --- API keys -----------------------------------------------------------------------------


def _issue(key: APIKey) -> str:
    """Give `key` a fresh secret (hash, prefix, ciphertext); the clear secret."""
    secret, prefix, secret_hash = new_secret()
    key.prefix, key.secret_hash = prefix, secret_hash
    key.secret_encrypted = encrypt_secret(secret)
    return secret


@transaction.atomic
def create_api_key(
    subscription: Subscription,
    name: str,
    expires_at: datetime | None = None,
    user=None,
) -> IssuedKey:
    """A new key of an open subscription; the secret is in the result and nowhere else. A key
    of a pending subscription waits for the approval (status pending) before any cluster
    serves it."""
    subscription = _locked(subscription)
    if subscription.status not in OPEN_STATUSES:
        raise ValidationError(
            {"subscription": f"keys need an open subscription; this one is {subscription.status}"}
        )
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "a key needs a name"})
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": "must be in the future"})
    key = APIKey(
        subscription=subscription,
        name=name,
        expires_at=expires_at,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    secret = _issue(key)
    key.save()
    rbac.object_saved(key, None)
    audit.record(user, audit.AuditAction.CREATE, key, None, audit.snapshot(key))
    if subscription.status == SubscriptionStatus.ACTIVE:
        _bump_for([subscription])
    logger.info(
        "API key #%s (%s) created for subscription #%s", key.pk, key.prefix, subscription.pk
    )
    return IssuedKey(key, secret)


def _locked_key(key: APIKey) -> APIKey:
    return APIKey.objects.select_for_update().select_related("subscription").get(pk=key.pk)


@transaction.atomic
def rotate_api_key(key: APIKey, user=None) -> IssuedKey:
    """A new secret for the key; the old one keeps working for API_KEY_ROTATION_GRACE seconds
    (an older previous secret stops at once)."""
    locked = _locked_key(key)
    before = audit.snapshot(locked)
    now = timezone.now()
    status = locked.status_at(now)
    if status in (APIKeyStatus.REVOKED, APIKeyStatus.EXPIRED):
        raise ValidationError({"status": f"a {status} key cannot be rotated"})
    grace = timedelta(seconds=settings.API_KEY_ROTATION_GRACE)
    if grace > timedelta(0):
        locked.previous_secret_hash = locked.secret_hash
        locked.previous_secret_encrypted = locked.secret_encrypted
        locked.previous_valid_until = now + grace
    else:
        locked.previous_secret_hash = ""
        locked.previous_secret_encrypted = ""
        locked.previous_valid_until = None
    secret = _issue(locked)
    locked.last_rotated = now
    locked.save()
    audit.record(user, audit.AuditAction.UPDATE, locked, before, audit.snapshot(locked))
    if locked.subscription.status == SubscriptionStatus.ACTIVE:
        _bump_for([locked.subscription])
    logger.info("API key #%s rotated (now %s)", locked.pk, locked.prefix)
    return IssuedKey(locked, secret)


def _revoke_keys(keys, now: datetime | None = None) -> int:
    """Revoke keys and erase their ciphertexts: a revoked key has nothing left to leak."""
    return keys.update(
        revoked_at=now or timezone.now(),
        secret_encrypted="",
        previous_secret_encrypted="",
        previous_valid_until=None,
    )


@transaction.atomic
def revoke_api_key(key: APIKey, user=None) -> APIKey:
    """Revoke the key (and any previous secret still in grace); it leaves the clusters."""
    locked = _locked_key(key)
    if locked.revoked_at is not None:
        raise ValidationError({"status": "the key is already revoked"})
    before = audit.snapshot(locked)
    _revoke_keys(APIKey.objects.filter(pk=locked.pk))
    locked.refresh_from_db()
    audit.record(user, audit.AuditAction.UPDATE, locked, before, audit.snapshot(locked))
    if locked.subscription.status == SubscriptionStatus.ACTIVE:
        _bump_for([locked.subscription])
    logger.info("API key #%s (%s) revoked", locked.pk, locked.prefix)
    return locked


@transaction.atomic
def expire_api_keys(now: datetime | None = None) -> int:
    """Take expired keys and ended grace periods out of the desired state: erase what no
    longer works and bump the clusters that served it. Returns how many keys changed."""
    now = now or timezone.now()
    expired = APIKey.objects.filter(expires_at__lte=now).exclude(
        secret_encrypted="", previous_secret_encrypted=""
    )
    ended = APIKey.objects.filter(previous_valid_until__lte=now)
    changed = list(
        (expired | ended)
        .select_for_update()
        .values_list("pk", "subscription__product_id", "subscription__environment")
    )
    if not changed:
        return 0
    expired.update(secret_encrypted="", previous_secret_encrypted="", previous_valid_until=None)
    ended.update(previous_secret_encrypted="", previous_valid_until=None)
    bump_desired_state_on_commit(
        serving_cluster_ids((product_id, environment) for _pk, product_id, environment in changed)
    )
    logger.info("Expired %d API keys or previous secrets", len(changed))
    return len(changed)


def reencrypt_api_keys(batch_size: int = 500) -> int:
    """Encrypt every stored secret again with the first of API_KEY_ENCRYPTION_KEYS; returns
    how many keys were rewritten. Clear secrets are the same, so no cluster changes."""
    rewritten = 0
    pks = list(
        APIKey.objects.exclude(secret_encrypted="", previous_secret_encrypted="")
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for start in range(0, len(pks), batch_size):
        with transaction.atomic():
            keys = list(
                APIKey.objects.select_for_update()
                .filter(pk__in=pks[start : start + batch_size])
                .only("pk", "secret_encrypted", "previous_secret_encrypted")
            )
            for key in keys:
                key.secret_encrypted = reencrypt(key.secret_encrypted)
                key.previous_secret_encrypted = reencrypt(key.previous_secret_encrypted)
            APIKey.objects.bulk_update(keys, ["secret_encrypted", "previous_secret_encrypted"])
            rewritten += len(keys)
    return rewritten


# --- Delivery -----------------------------------------------------------------------------


def consumer_specs(
    pairs: Iterable[tuple[int, str]], now: datetime | None = None
) -> dict[tuple[int, str], list[ConsumerSpec]]:
    """The API-key consumers of each (product id, environment): one per active subscription of
    a customer of the product's tenant that holds a working key, named `sub-<id>`, with its
    current secrets (and previous ones still in grace), sorted. One query.

    Raises key_encryption.UndecryptableSecret rather than serve fewer keys than are valid:
    the agents then keep their clusters as they are.
    """
    pairs = set(pairs)
    if not pairs:
        return {}
    now = now or timezone.now()
    condition = Q(pk__in=[])
    for product_id, environment in pairs:
        condition |= Q(subscription__product_id=product_id, subscription__environment=environment)
    rows = (
        APIKey.objects.filter(
            condition,
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            subscription__status=SubscriptionStatus.ACTIVE,
            subscription__customer__tenant_id=F("subscription__product__tenant_id"),
            revoked_at__isnull=True,
        )
        .exclude(secret_encrypted="")
        .values_list(
            "subscription_id",
            "subscription__product_id",
            "subscription__environment",
            "secret_encrypted",
            "previous_secret_encrypted",
            "previous_valid_until",
        )
    )
    secrets_by_subscription: dict[tuple[int, str], dict[int, list[str]]] = {}
    for subscription_id, product_id, environment, current, previous, valid_until in rows:
        keys = secrets_by_subscription.setdefault((product_id, environment), {}).setdefault(
            subscription_id, []
        )
        keys.append(decrypt_secret(current))
        if previous and valid_until is not None and valid_until > now:
            keys.append(decrypt_secret(previous))
    return {
        pair: sorted(
            (
                {"name": f"sub-{subscription_id}", "api_keys": sorted(keys)}
                for subscription_id, keys in by_subscription.items()
            ),
            key=lambda consumer: consumer["name"],
        )
        for pair, by_subscription in secrets_by_subscription.items()
    }
