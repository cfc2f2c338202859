"""Abstract model bases shared by every app, and the identity-and-access models: role grants
and the Keycloak accounts users sign in with."""

import functools
import operator

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class TimestampedModel(models.Model):
    """A model that records when it was created and last changed."""

    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        abstract = True


class Role(models.TextChoices):
    SYSTEM_ADMIN = "system-admin", _("System admin")
    ORG_ADMIN = "org-admin", _("Organisation admin")
    GATEWAY_OWNER = "gateway-owner", _("Gateway owner")
    API_DEVELOPER = "api-developer", _("API developer")
    BUSINESS_MANAGER = "business-manager", _("Business manager")
    CUSTOMER_ADMIN = "customer-admin", _("Customer admin")
    API_CONSUMER = "api-consumer", _("API consumer")


class Scope(models.TextChoices):
    SYSTEM = "system", _("System")
    ORG = "org", _("Organisation (tenant)")
    GATEWAY = "gateway", _("Gateway")
    PRODUCT = "product", _("Product")
    CUSTOMER = "customer", _("Customer")
    SUBSCRIPTION = "subscription", _("Subscription")


class GrantSource(models.TextChoices):
    CONSOLE = "console", _("Console")
    IDENTITY_PROVIDER = "idp", _("Identity provider")


# The scopes each role can be granted at; impgateway/rbac.py says what a role may do there.
ROLE_SCOPES: dict[str, tuple[str, ...]] = {
    Role.SYSTEM_ADMIN: (Scope.SYSTEM,),
    Role.ORG_ADMIN: (Scope.ORG,),
    Role.GATEWAY_OWNER: (Scope.ORG, Scope.GATEWAY),
    Role.API_DEVELOPER: (Scope.ORG,),
    Role.BUSINESS_MANAGER: (Scope.ORG, Scope.PRODUCT),
    Role.CUSTOMER_ADMIN: (Scope.ORG, Scope.CUSTOMER),
    Role.API_CONSUMER: (Scope.CUSTOMER, Scope.SUBSCRIPTION),
}

# The field of RoleGrant that holds the object of each scope (none for the system scope).
SCOPE_FIELDS: dict[str, str] = {
    Scope.ORG: "tenant",
    Scope.GATEWAY: "gateway",
    Scope.PRODUCT: "product",
    Scope.CUSTOMER: "customer",
    Scope.SUBSCRIPTION: "subscription",
}
_NARROW_FIELDS = ("gateway", "product", "customer", "subscription")


def _scope_object_rule() -> models.Q:
    """Exactly the scope's object is set; the tenant is set for every scope but system."""
    rule = models.Q(scope=Scope.SYSTEM, tenant__isnull=True) & models.Q(
        **{f"{name}__isnull": True for name in _NARROW_FIELDS}
    )
    for scope, field in SCOPE_FIELDS.items():
        rule |= models.Q(scope=scope, tenant__isnull=False) & models.Q(
            **{f"{name}__isnull": name != field for name in _NARROW_FIELDS}
        )
    return rule


def _role_scope_rule() -> models.Q:
    rules = [models.Q(role=role, scope__in=list(scopes)) for role, scopes in ROLE_SCOPES.items()]
    return functools.reduce(operator.or_, rules)


class RoleGrant(TimestampedModel):
    """A role given to a user or a group at a scope: the system, a tenant, or one gateway,
    product, customer or subscription. impgateway/rbac.py turns grants into object permissions.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("user"),
    )
    group = models.ForeignKey(
        "auth.Group",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("group"),
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices)
    scope = models.CharField(_("scope"), max_length=20, choices=Scope.choices)
    tenant = models.ForeignKey(
        "catalog.Tenant",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("tenant"),
        help_text=_("The organisation scope, and the tenant of every narrower scope's object."),
    )
    gateway = models.ForeignKey(
        "catalog.Gateway",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("gateway"),
    )
    product = models.ForeignKey(
        "catalog.Product",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("product"),
    )
    customer = models.ForeignKey(
        "catalog.Customer",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("customer"),
    )
    subscription = models.ForeignKey(
        "catalog.Subscription",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="role_grants",
        verbose_name=_("subscription"),
    )
    source = models.CharField(
        _("source"),
        max_length=10,
        choices=GrantSource.choices,
        default=GrantSource.CONSOLE,
        help_text=_(
            "Grants from the identity provider are replaced at every sign-in; "
            "grants made in the console stay."
        ),
    )

    class Meta:
        ordering = ["role", "scope", "pk"]
        verbose_name = _("role grant")
        verbose_name_plural = _("role grants")
        indexes = [models.Index(fields=["scope", "tenant"], name="impgateway_grant_scope_tenant")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="impgateway_rolegrant_one_holder",
                violation_error_message=_("user: give the role to a user or to a group, not both."),
            ),
            models.CheckConstraint(
                condition=_role_scope_rule(),
                name="impgateway_rolegrant_role_scope",
                violation_error_message=_("scope: this role cannot be granted at this scope."),
            ),
            models.CheckConstraint(
                condition=_scope_object_rule(),
                name="impgateway_rolegrant_scope_object",
                violation_error_message=_(
                    "scope: choose exactly the object of the scope (none for system)."
                ),
            ),
        ]

    def __str__(self) -> str:
        holder = self.user if self.user_id else self.group
        target = self.scope_object
        where = f"{self.get_scope_display()} {target}" if target else self.get_scope_display()
        return f"{holder}: {self.get_role_display()} @ {where}"

    @property
    def scope_object(self) -> models.Model | None:
        field = SCOPE_FIELDS.get(self.scope)
        return getattr(self, field) if field and getattr(self, f"{field}_id") else None

    @property
    def scope_object_id(self) -> int | None:
        field = SCOPE_FIELDS.get(self.scope)
        return getattr(self, f"{field}_id") if field else None

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if bool(self.user_id) == bool(self.group_id):
            errors["user"] = _("Give the role to a user or to a group, not both.")
        if self.role and self.scope and self.scope not in ROLE_SCOPES.get(self.role, ()):
            allowed = ", ".join(ROLE_SCOPES.get(self.role, ()))
            errors["scope"] = _("%(role)s can be granted at: %(scopes)s.") % {
                "role": self.role,
                "scopes": allowed,
            }
        field = SCOPE_FIELDS.get(self.scope)
        for name in _NARROW_FIELDS:
            if name != field and getattr(self, f"{name}_id"):
                errors[name] = _("Leave empty for the %(scope)s scope.") % {"scope": self.scope}
        if self.scope == Scope.SYSTEM and self.tenant_id:
            errors["tenant"] = _("Leave empty for the system scope.")
        if field and not getattr(self, f"{field}_id"):
            errors[field] = _("The %(scope)s scope needs its %(field)s.") % {
                "scope": self.scope,
                "field": field,
            }
        elif field and field != "tenant" and not errors:
            tenant_id = self._scope_object_tenant_id()
            if self.tenant_id and self.tenant_id != tenant_id:
                errors["tenant"] = _("The %(field)s belongs to another tenant.") % {"field": field}
            self.tenant_id = tenant_id
        if errors:
            raise ValidationError(errors)

    def _scope_object_tenant_id(self) -> int:
        scope_object = self.scope_object
        if self.scope == Scope.SUBSCRIPTION:
            return scope_object.customer.tenant_id
        return scope_object.tenant_id


class OIDCIdentity(TimestampedModel):
    """The Keycloak account a user signs in with, matched by issuer and subject (never by the
    e-mail address, which an identity provider may let users change)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="oidc_identity",
        verbose_name=_("user"),
    )
    issuer = models.CharField(_("issuer"), max_length=255)
    subject = models.CharField(_("subject"), max_length=255)

    class Meta:
        verbose_name = _("OIDC identity")
        verbose_name_plural = _("OIDC identities")
        constraints = [
            models.UniqueConstraint(
                fields=["issuer", "subject"],
                name="impgateway_oidcidentity_unique_subject",
                violation_error_message=_("subject: this account is linked to another user."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} @ {self.issuer or 'OIDC'}"


class AuditAction(models.TextChoices):
    CREATE = "create", _("Created")
    UPDATE = "update", _("Changed")
    DELETE = "delete", _("Deleted")
    PUBLISH = "publish", _("Published")
    WITHDRAW = "withdraw", _("Withdrawn")
    ROLLBACK = "rollback", _("Rolled back")
    MOVE = "move", _("Moved")


class AuditSource(models.TextChoices):
    CONSOLE = "console", _("Console")
    API = "api", _("REST API")
    SERVICE = "service", _("Operation")


class AuditEvent(models.Model):
    """One change to one object: who, when, what, and the object's concrete fields before and
    after (secrets left out). Written by impgateway/audit.py only; never edited."""

    created = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("user"),
    )
    username = models.CharField(_("username"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=10, choices=AuditAction.choices)
    source = models.CharField(_("source"), max_length=10, choices=AuditSource.choices)
    content_type = models.ForeignKey(
        "contenttypes.ContentType",
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("model"),
    )
    object_id = models.BigIntegerField(_("object id"))
    object_repr = models.CharField(_("object"), max_length=200)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)

    class Meta:
        ordering = ["-created", "-pk"]
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        indexes = [
            models.Index(fields=["content_type", "object_id"], name="impgateway_audit_object"),
        ]

    def __str__(self) -> str:
        return f"{self.username or '-'} {self.get_action_display()} {self.object_repr}"
