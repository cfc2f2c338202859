"""Roles, scopes and the one place where access is decided.

A role grant (user or group, role, scope, scope object) becomes django-guardian object
permissions on every object in its scope, including objects created later (`object_saved`);
system-scope grants work as model permissions (`RoleGrantBackend`). The admin base classes and
the API base class restrict every queryset, form choice and action through `restrict`,
`has_model_permission`, `has_object_permission` and `may_save`. docs/rbac.md is rendered
from this module (`render_markdown`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from django.apps import apps
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist
from django.db import models, router, transaction
from django.db.models import Q, QuerySet, Subquery
from django.db.models.deletion import Collector
from django.db.models.functions import Cast
from django.utils import translation
from guardian.models import GroupObjectPermission, UserObjectPermission

from .models import ROLE_SCOPES, SCOPE_FIELDS, GrantSource, Role, RoleGrant, Scope

__all__ = [
    "ACTIONS",
    "MATRIX",
    "REGISTRY",
    "Role",
    "RoleGrantBackend",
    "Scope",
    "delete_objects",
    "effective_permissions",
    "has_model_permission",
    "has_object_permission",
    "may_save",
    "object_saved",
    "render_markdown",
    "replace_identity_grants",
    "restrict",
    "save_object",
    "scope_snapshot",
    "sync_all",
    "sync_holder",
]

ACTIONS = ("view", "add", "change", "delete", "publish")
_LETTERS = {"v": "view", "a": "add", "c": "change", "d": "delete", "p": "publish"}

ROLE_ORDER = (
    Role.SYSTEM_ADMIN,
    Role.ORG_ADMIN,
    Role.GATEWAY_OWNER,
    Role.API_DEVELOPER,
    Role.BUSINESS_MANAGER,
    Role.CUSTOMER_ADMIN,
    Role.API_CONSUMER,
)


def _row(*letters: str) -> dict[str, frozenset[str]]:
    return {
        role: frozenset(_LETTERS[letter] for letter in cell)
        for role, cell in zip(ROLE_ORDER, letters, strict=True)
    }


# What each role may do with each model, on the objects its grant's scope reaches
# (v view, a add, c change, d delete, p publish). The one definition of the matrix.
#                                       system  org     gateway developer business customer consumer
MATRIX_BY_MODEL: dict[str, dict[str, frozenset[str]]] = {
    "catalog.tenant": _row("vacd", "vc", "v", "v", "v", "v", "v"),
    "catalog.apiservice": _row("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.route": _row("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.backend": _row("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.policy": _row("vacd", "vacd", "", "vacd", "v", "", ""),
    "catalog.product": _row("vacd", "vacd", "v", "v", "vacd", "v", "v"),
    "catalog.gateway": _row("vacd", "vacd", "vacd", "v", "", "", ""),
    "catalog.listener": _row("vacd", "vacd", "vacd", "v", "", "", ""),
    "catalog.customer": _row("vacd", "vacd", "", "", "vacd", "vc", "v"),
    "catalog.subscription": _row("vacd", "vacd", "", "", "vacd", "vacd", "v"),
    # Providers see key metadata and may revoke (change); only the customer side adds and
    # rotates (add), the two actions that return a secret.
    "catalog.apikey": _row("vacd", "vc", "", "", "vc", "vacd", "vacd"),
    "publishing.productpublish": _row("vacdp", "vacdp", "v", "vacdp", "v", "", ""),
    "publishing.publishrevision": _row("v", "v", "v", "v", "v", "", ""),
    "publishing.deploymentstatus": _row("v", "v", "v", "v", "v", "", ""),
    "publishing.hostnameclaim": _row("v", "v", "v", "v", "v", "", ""),
    "clusters.cluster": _row("vacd", "v", "v", "v", "v", "", ""),
    "clusters.agent": _row("vacd", "", "", "", "", "", ""),
    "clusters.registrationtoken": _row("vacd", "", "", "", "", "", ""),
    "impgateway.rolegrant": _row("vacd", "v", "", "", "", "", ""),
    "impgateway.auditevent": _row("v", "v", "v", "v", "v", "v", "v"),
    "auth.user": _row("v", "", "", "", "", "", ""),
    "auth.group": _row("v", "", "", "", "", "", ""),
}

MATRIX: dict[str, dict[str, frozenset[str]]] = {
    role: {label: row[role] for label, row in MATRIX_BY_MODEL.items() if row[role]}
    for role in ROLE_ORDER
}


@dataclass(frozen=True)
class Membership:
    """How a model's objects fall into scopes.

    `paths` maps a scope to the lookup from the model to the scope's object ("" when the object
    is the scope object itself); objects in scope get guardian rows. A model that `follows`
    another has no rows of its own: it is visible where its source is (`follow_lookup` is this
    model's lookup and the source's value joined on), and to every holder of `open_to`.
    `affects` names foreign keys whose targets' scopes depend on this object. A model that
    `describes` other objects (content_type, object_id) is visible wherever they are.
    """

    paths: Mapping[str, str] = field(default_factory=dict)
    follows: str = ""
    follow_lookup: tuple[str, str] = ("", "")
    open_to: tuple[str, str] | None = None
    affects: tuple[str, ...] = ()
    describes: bool = False


_SERVICE_CHILD = Membership(paths={Scope.ORG: "service__tenant"})

REGISTRY: dict[str, Membership] = {
    "catalog.tenant": Membership(
        paths={
            Scope.ORG: "",
            Scope.GATEWAY: "gateways",
            Scope.PRODUCT: "products",
            Scope.CUSTOMER: "customers",
            Scope.SUBSCRIPTION: "customers__subscriptions",
        }
    ),
    "catalog.apiservice": Membership(paths={Scope.ORG: "tenant"}),
    "catalog.route": _SERVICE_CHILD,
    "catalog.backend": _SERVICE_CHILD,
    "catalog.policy": _SERVICE_CHILD,
    "catalog.product": Membership(
        paths={
            Scope.ORG: "tenant",
            Scope.PRODUCT: "",
            # A customer sees the catalog of the provider it buys from.
            Scope.CUSTOMER: "tenant__customers",
            Scope.SUBSCRIPTION: "subscriptions",
        }
    ),
    "catalog.gateway": Membership(paths={Scope.ORG: "tenant", Scope.GATEWAY: ""}),
    "catalog.listener": Membership(paths={Scope.ORG: "gateway__tenant", Scope.GATEWAY: "gateway"}),
    "catalog.customer": Membership(
        paths={
            Scope.ORG: "tenant",
            Scope.PRODUCT: "subscriptions__product",
            Scope.CUSTOMER: "",
            Scope.SUBSCRIPTION: "subscriptions",
        }
    ),
    "catalog.subscription": Membership(
        paths={
            Scope.ORG: "customer__tenant",
            Scope.PRODUCT: "product",
            Scope.CUSTOMER: "customer",
            Scope.SUBSCRIPTION: "",
        },
        affects=("customer", "product"),
    ),
    "catalog.apikey": Membership(
        paths={
            Scope.ORG: "subscription__customer__tenant",
            Scope.PRODUCT: "subscription__product",
            Scope.CUSTOMER: "subscription__customer",
            Scope.SUBSCRIPTION: "subscription",
        }
    ),
    "publishing.productpublish": Membership(
        paths={Scope.ORG: "tenant", Scope.GATEWAY: "gateway", Scope.PRODUCT: "product"}
    ),
    # Revisions and deployment reports are written by services and agents: they are visible
    # wherever their publish is, with no rows of their own to keep in step.
    "publishing.publishrevision": Membership(
        follows="publishing.productpublish", follow_lookup=("publish", "pk")
    ),
    "publishing.deploymentstatus": Membership(
        follows="publishing.productpublish", follow_lookup=("publish", "pk")
    ),
    "publishing.hostnameclaim": Membership(
        follows="publishing.productpublish", follow_lookup=("publish", "pk")
    ),
    # Clusters are shared infrastructure run by system admins: users see the clusters their
    # publishes target, and whoever may create publishes sees every cluster to choose from.
    "clusters.cluster": Membership(
        follows="publishing.productpublish",
        follow_lookup=("pk", "cluster"),
        open_to=("publishing.productpublish", "add"),
    ),
    "clusters.agent": Membership(),
    "clusters.registrationtoken": Membership(),
    "impgateway.rolegrant": Membership(paths={Scope.ORG: "tenant"}),
    # The audit trail: a user sees the events of the objects they may view.
    "impgateway.auditevent": Membership(describes=True),
    "auth.user": Membership(),
    "auth.group": Membership(),
}

SCOPE_MODELS: dict[str, str] = {
    Scope.ORG: "catalog.tenant",
    Scope.GATEWAY: "catalog.gateway",
    Scope.PRODUCT: "catalog.product",
    Scope.CUSTOMER: "catalog.customer",
    Scope.SUBSCRIPTION: "catalog.subscription",
}

_GRANTS_ATTRIBUTE = "_impgateway_role_grants"
_BATCH = 1000


# --- names ----------------------------------------------------------------------------------


def model_label(model: type[models.Model] | models.Model) -> str:
    return model._meta.label_lower


def permission_name(model: type[models.Model] | models.Model, action: str) -> str:
    """`catalog.view_apiservice` for (APIService, "view")."""
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


def _action_of(perm: str, model: type[models.Model]) -> str:
    codename = perm.rsplit(".", 1)[-1]
    action, _sep, model_name = codename.partition("_")
    if model_name != model._meta.model_name or action not in ACTIONS:
        raise ValueError(f"{perm!r} is not a permission of {model_label(model)}")
    return action


def role_actions(role: str, label: str) -> frozenset[str]:
    return MATRIX.get(role, {}).get(label, frozenset())


# --- the user's grants ------------------------------------------------------------------------


def user_grants(user) -> list[RoleGrant]:
    """The grants of the user and of their groups, read once per user object (per request)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    grants = getattr(user, _GRANTS_ATTRIBUTE, None)
    if grants is None:
        grants = list(
            RoleGrant.objects.filter(
                Q(user_id=user.pk) | Q(group__in=Group.objects.filter(user=user))
            )
        )
        setattr(user, _GRANTS_ATTRIBUTE, grants)
    return grants


def forget_cached_grants(user) -> None:
    """Drop what `user_grants` and the permission backends cached on this user object."""
    for attribute in (_GRANTS_ATTRIBUTE, "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        if hasattr(user, attribute):
            delattr(user, attribute)


def system_permissions(user) -> frozenset[str]:
    """Model permissions from system-scope grants: `catalog.view_apiservice`, ..."""
    granted: set[str] = set()
    for grant in user_grants(user):
        if grant.scope == Scope.SYSTEM:
            for label, actions in MATRIX.get(grant.role, {}).items():
                app_label, model_name = label.split(".")
                granted.update(f"{app_label}.{action}_{model_name}" for action in actions)
    return frozenset(granted)


class RoleGrantBackend:
    """Permission backend: system-scope grants act as model permissions, and the models that
    follow another (revisions, deployment status, clusters) answer object checks here.
    Object permissions of the other models come from django-guardian's backend."""

    def authenticate(self, request, **credentials):
        return None

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        if obj is not None or not user_obj.is_active:
            return set()
        return set(system_permissions(user_obj))

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        if not user_obj.is_active:
            return False
        if perm in system_permissions(user_obj):
            return True
        if obj is None or not REGISTRY.get(model_label(obj), Membership()).follows:
            return False
        try:
            action = _action_of(perm, type(obj))
        except ValueError:
            return False
        return restrict(type(obj)._default_manager.filter(pk=obj.pk), user_obj, action).exists()

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        return user_obj.is_active and any(
            perm.startswith(f"{app_label}.") for perm in system_permissions(user_obj)
        )


# --- deciding ---------------------------------------------------------------------------------


def _is_forward(model: type[models.Model], name: str) -> bool:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return False
    return bool(model_field.many_to_one or (model_field.one_to_one and model_field.concrete))


def scope_fields(model: type[models.Model]) -> list[str]:
    """The model's own foreign keys through which its objects fall into scopes."""
    spec = REGISTRY.get(model_label(model), Membership())
    names: list[str] = []
    for scope_path in spec.paths.values():
        first = scope_path.split("__")[0]
        if scope_path and first not in names and _is_forward(model, first):
            names.append(first)
    return names


def _reaches(model: type[models.Model], spec: Membership, scope: str, action: str) -> bool:
    """Whether a grant at `scope` can reach objects of the model for `action`."""
    if spec.describes:
        return action == "view"
    if spec.follows:
        source = REGISTRY[spec.follows]
        return action == "view" and scope in source.paths
    path = spec.paths.get(scope)
    if path is None:
        return False
    if action == "add":
        # A new object lands in a scope only through one of its own foreign keys.
        return path != "" and _is_forward(model, path.split("__")[0])
    return True


def has_model_permission(user, model: type[models.Model], action: str) -> bool:
    """Whether the user may `action` some object of the model (the admin's model-level check)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(permission_name(model, action)):
        return True
    label = model_label(model)
    spec = REGISTRY.get(label)
    if spec is None:
        return False
    if spec.open_to and action == "view":
        open_label, open_action = spec.open_to
        if has_model_permission(user, apps.get_model(open_label), open_action):
            return True
    return any(
        action in role_actions(grant.role, label) and _reaches(model, spec, grant.scope, action)
        for grant in user_grants(user)
    )


def _granted(user, model: type[models.Model], action: str) -> Q:
    """Objects the user holds `action` on through guardian rows: one subquery per holder kind."""
    content_type = ContentType.objects.get_for_model(model)
    codename = f"{action}_{model._meta.model_name}"
    # The cast sits in the subquery's select list, so guardian's (user, permission, object_pk)
    # index still serves the filter.
    object_id = Cast("object_pk", output_field=models.BigIntegerField())
    # The permission as a scalar subquery: the database resolves it once (an InitPlan)
    # instead of joining auth_permission for every guardian row.
    permission = Subquery(
        Permission.objects.filter(content_type=content_type, codename=codename).values("pk")[:1]
    )
    own = UserObjectPermission.objects.filter(
        user_id=user.pk, content_type=content_type, permission_id=permission
    ).values(object_id=object_id)
    memberships = user.groups.through.objects.filter(user_id=user.pk).values("group_id")
    through_groups = GroupObjectPermission.objects.filter(
        group_id__in=memberships, content_type=content_type, permission_id=permission
    ).values(object_id=object_id)
    return Q(pk__in=own) | Q(pk__in=through_groups)


def restrict(queryset: QuerySet, user, action: str = "view") -> QuerySet:
    """The objects of `queryset` the user may `action`: the one queryset filter of the project."""
    model = queryset.model
    if user is None or not user.is_authenticated or not user.is_active:
        return queryset.none()
    if user.has_perm(permission_name(model, action)):
        return queryset
    spec = REGISTRY.get(model_label(model))
    if spec is None:
        return queryset.none()
    if spec.describes:
        return queryset.filter(_described(user)) if action == "view" else queryset.none()
    if spec.follows:
        if action != "view":
            return queryset.none()
        if spec.open_to:
            open_label, open_action = spec.open_to
            if has_model_permission(user, apps.get_model(open_label), open_action):
                return queryset
        source_model = apps.get_model(spec.follows)
        source = restrict(source_model._default_manager.all(), user, "view")
        local, remote = spec.follow_lookup
        return queryset.filter(**{f"{local}__in": source.values(remote)})
    if not spec.paths:
        return queryset.none()
    return queryset.filter(_granted(user, model, action))


def _described(user) -> Q:
    """Rows (content_type, object_id) that describe objects the user may view: one subquery
    per model the user may view something of."""
    condition = Q(pk__in=[])
    for label, spec in REGISTRY.items():
        model = apps.get_model(label)
        if spec.describes or not has_model_permission(user, model, "view"):
            continue
        content_type = ContentType.objects.get_for_model(model)
        visible = restrict(model._default_manager.all(), user, "view").order_by().values("pk")
        condition |= Q(content_type=content_type, object_id__in=visible)
    return condition


def has_object_permission(user, perm: str, obj: models.Model) -> bool:
    """`user.has_perm(perm, obj)` for every model, decided by the same rule as `restrict`."""
    model = type(obj)
    action = _action_of(perm, model)
    if obj.pk is None:
        return False
    return restrict(model._default_manager.filter(pk=obj.pk), user, action).exists()


def _contains(instance: models.Model, path: str, target_id) -> bool:
    """Whether `instance` (saved or not) lies in the scope whose object's id is `target_id`.
    Unsaved related objects count too: an inline's new child of a parent being added."""
    if target_id is None:
        return False
    if path == "":
        return instance.pk is not None and instance.pk == target_id
    parts = path.split("__")
    current = instance
    for index, part in enumerate(parts):
        if not _is_forward(type(current), part):
            if current.pk is None:
                return False
            rest = "__".join(parts[index:])
            return (
                type(current)._default_manager.filter(pk=current.pk, **{rest: target_id}).exists()
            )
        model_field = current._meta.get_field(part)
        related = model_field.get_cached_value(current, default=None)
        value = getattr(current, model_field.attname)
        if value is None and related is not None:
            value = related.pk
        if index == len(parts) - 1:
            return value is not None and value == target_id
        if related is None:
            if value is None:
                return False
            related = getattr(current, part)
        current = related
    return False


def may_save(user, instance: models.Model, action: str) -> bool:
    """Whether the user may save `instance` as it is now (new for "add", edited for "change"):
    the object must lie, with its new foreign keys, in a scope where a grant allows `action`."""
    model = type(instance)
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.has_perm(permission_name(model, action)):
        return True
    label = model_label(model)
    spec = REGISTRY.get(label)
    if spec is None or spec.follows:
        return False
    for grant in user_grants(user):
        path = spec.paths.get(grant.scope)
        if path is None or action not in role_actions(grant.role, label):
            continue
        if _contains(instance, path, grant.scope_object_id):
            return True
    return False


def addable_parents(user, model: type[models.Model], parent: str) -> QuerySet | None:
    """The objects of the `parent` foreign key's model under which the user may add `model`;
    None when the key does not decide it (a system grant, or a grant that reaches new objects
    through another key)."""
    if user.has_perm(permission_name(model, "add")):
        return None
    label = model_label(model)
    spec = REGISTRY.get(label, Membership())
    condition = Q(pk__in=[])
    for grant in user_grants(user):
        scope_path = spec.paths.get(grant.scope)
        if "add" not in role_actions(grant.role, label) or not scope_path:
            continue
        if scope_path != parent and not scope_path.startswith(f"{parent}__"):
            if _is_forward(model, scope_path.split("__")[0]):
                return None
            continue
        rest = scope_path[len(parent) + 2 :]
        condition |= Q(**{rest or "pk": grant.scope_object_id})
    parent_model = model._meta.get_field(parent).related_model
    return parent_model._default_manager.filter(condition)


def effective_permissions(user) -> dict[str, list[str]]:
    """For each model, the actions the user may take on some of its objects."""
    result: dict[str, list[str]] = {}
    for label in MATRIX_BY_MODEL:
        model = apps.get_model(label)
        actions = [action for action in ACTIONS if has_model_permission(user, model, action)]
        actions = [a for a in actions if a != "publish" or label == "publishing.productpublish"]
        if actions:
            result[label] = actions
    return result


# --- turning grants into guardian rows --------------------------------------------------------


class _Permissions:
    """Permission ids by (model, action), read once per operation."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int | None] = {}

    def get(self, model: type[models.Model], action: str) -> int | None:
        key = (model_label(model), action)
        if key not in self._ids:
            content_type = ContentType.objects.get_for_model(model)
            for codename, pk in Permission.objects.filter(content_type=content_type).values_list(
                "codename", "pk"
            ):
                verb = codename.partition("_")[0]
                self._ids[(key[0], verb)] = pk
            self._ids.setdefault(key, None)
        return self._ids[key]


def _materialized() -> Iterator[tuple[str, type[models.Model], Membership]]:
    for label, spec in REGISTRY.items():
        if spec.paths and not spec.follows:
            yield label, apps.get_model(label), spec


def _content_type_ids() -> list[int]:
    return [ContentType.objects.get_for_model(model).pk for _label, model, _spec in _materialized()]


def _scope_members(model: type[models.Model], path: str, scope_id) -> QuerySet:
    return (
        model._default_manager.filter(**{path or "pk": scope_id})
        .order_by()
        .values_list("pk", flat=True)
        .distinct()
    )


def _rows_for_grant(
    grant: RoleGrant, permissions: _Permissions, only: models.Model | None = None
) -> list[models.Model]:
    """Guardian rows the grant gives on every object of its scope, or on `only`, an object the
    caller knows to be in the grant's scope."""
    if grant.scope == Scope.SYSTEM:
        return []
    row_model = UserObjectPermission if grant.user_id else GroupObjectPermission
    holder = {"user_id": grant.user_id} if grant.user_id else {"group_id": grant.group_id}
    rows = []
    for label, model, spec in _materialized():
        if only is not None and model_label(only) != label:
            continue
        path = spec.paths.get(grant.scope)
        actions = role_actions(grant.role, label)
        if path is None or not actions:
            continue
        permission_ids = [permissions.get(model, action) for action in sorted(actions)]
        permission_ids = [pk for pk in permission_ids if pk is not None]
        if only is not None:
            members: Iterable = [only.pk]
        else:
            members = _scope_members(model, path, grant.scope_object_id)
        content_type_id = ContentType.objects.get_for_model(model).pk
        for object_pk in members:
            rows.extend(
                row_model(
                    **holder,
                    permission_id=permission_id,
                    content_type_id=content_type_id,
                    object_pk=str(object_pk),
                )
                for permission_id in permission_ids
            )
    return rows


def _write(rows: list[models.Model]) -> int:
    written = 0
    for row_model in (UserObjectPermission, GroupObjectPermission):
        batch = [row for row in rows if isinstance(row, row_model)]
        if batch:
            row_model.objects.bulk_create(batch, batch_size=_BATCH, ignore_conflicts=True)
            written += len(batch)
    return written


def sync_holder(user_id: int | None = None, group_id: int | None = None) -> int:
    """Rebuild one user's or group's guardian rows from their grants; returns rows written."""
    permissions = _Permissions()
    content_types = _content_type_ids()
    with transaction.atomic():
        if user_id is not None:
            UserObjectPermission.objects.filter(
                user_id=user_id, content_type_id__in=content_types
            ).delete()
            grants = RoleGrant.objects.filter(user_id=user_id)
        else:
            GroupObjectPermission.objects.filter(
                group_id=group_id, content_type_id__in=content_types
            ).delete()
            grants = RoleGrant.objects.filter(group_id=group_id)
        rows = [row for grant in grants for row in _rows_for_grant(grant, permissions)]
        return _write(rows)


def sync_all() -> int:
    """Rebuild every guardian row of the scoped models from the grants; returns rows written."""
    permissions = _Permissions()
    content_types = _content_type_ids()
    with transaction.atomic():
        UserObjectPermission.objects.filter(content_type_id__in=content_types).delete()
        GroupObjectPermission.objects.filter(content_type_id__in=content_types).delete()
        rows = [
            row
            for grant in RoleGrant.objects.exclude(scope=Scope.SYSTEM).iterator()
            for row in _rows_for_grant(grant, permissions)
        ]
        return _write(rows)


def _grants_containing(obj: models.Model, spec: Membership) -> QuerySet:
    """The grants whose scope holds `obj`: one query, one subquery per scope."""
    model = type(obj)
    condition = Q(pk__in=[])
    for scope, path in spec.paths.items():
        scope_ids = model._default_manager.filter(pk=obj.pk).values(path or "pk")
        condition |= Q(scope=scope, **{f"{SCOPE_FIELDS[scope]}__in": scope_ids})
    return RoleGrant.objects.filter(condition)


def _forget(model: type[models.Model], pks: Iterable) -> None:
    content_type = ContentType.objects.get_for_model(model)
    keys = [str(pk) for pk in pks]
    for row_model in (UserObjectPermission, GroupObjectPermission):
        row_model.objects.filter(content_type=content_type, object_pk__in=keys).delete()


def _refresh(obj: models.Model) -> None:
    """Recompute the rows on one object from the grants whose scope holds it now."""
    spec = REGISTRY.get(model_label(obj))
    if spec is None or not spec.paths or spec.follows:
        return
    _forget(type(obj), [obj.pk])
    permissions = _Permissions()
    rows = [
        row
        for grant in _grants_containing(obj, spec)
        for row in _rows_for_grant(grant, permissions, only=obj)
    ]
    _write(rows)


def _affected(obj: models.Model, spec: Membership) -> list[models.Model]:
    targets = []
    for name in spec.affects:
        if getattr(obj, obj._meta.get_field(name).attname) is not None:
            targets.append(getattr(obj, name))
    return targets


def scope_snapshot(obj: models.Model) -> dict | None:
    """The stored values that decide which scopes `obj` is in; None for a new object."""
    spec = REGISTRY.get(model_label(obj))
    if obj.pk is None or obj._state.adding or spec is None or not spec.paths or spec.follows:
        return None
    model = type(obj)
    lookups = [model._meta.get_field(name).attname for name in scope_fields(model)]
    org_path = spec.paths.get(Scope.ORG)
    if org_path:
        lookups.append(org_path)
    values = model._default_manager.filter(pk=obj.pk).values(*(lookups or ["pk"])).first()
    if values is None:
        return None
    snapshot = {lookup: values[lookup] for lookup in lookups}
    snapshot["tenant"] = obj.pk if org_path == "" else snapshot.get(org_path)
    return snapshot


def object_saved(obj: models.Model, previous: dict | None) -> None:
    """Bring permissions in step after `obj` was saved; `previous` is `scope_snapshot` taken
    before the save (None when the object is new). Call it from every save path that users
    reach: the admin base classes and the API base class do; services that create scoped
    objects outside them call it too, or `manage.py sync_permissions` catches up."""
    spec = REGISTRY.get(model_label(obj))
    if spec is None or spec.follows or not spec.paths:
        return
    with transaction.atomic():
        if isinstance(obj, RoleGrant):
            _grant_saved(obj)
        if previous is None:
            _refresh(obj)
        else:
            current = scope_snapshot(obj) or {}
            if current != previous:
                # The object moved between scopes, and its children with it: rebuild the
                # holders of both tenants rather than chase every descendant.
                tenants = {previous.get("tenant"), current.get("tenant")}
                _sync_holders(
                    RoleGrant.objects.filter(tenant_id__in=tenants - {None})
                    .values_list("user_id", "group_id")
                    .distinct()
                )
        for target in _affected(obj, spec):
            _refresh(target)


def _grant_saved(grant: RoleGrant) -> None:
    if grant.user_id:
        # A role is what lets someone into the console.
        type(grant.user)._default_manager.filter(pk=grant.user_id, is_staff=False).update(
            is_staff=True
        )
    _sync_holders([(grant.user_id, grant.group_id)])


def _sync_holders(holders: Iterable[tuple[int | None, int | None]]) -> None:
    for user_id, group_id in set(holders):
        if user_id:
            sync_holder(user_id=user_id)
        elif group_id:
            sync_holder(group_id=group_id)


def save_object(obj: models.Model) -> None:
    """Save `obj` and bring permissions in step: the save of every user-facing write path."""
    with transaction.atomic():
        previous = scope_snapshot(obj)
        former_holder = None
        if isinstance(obj, RoleGrant) and not obj._state.adding:
            former_holder = (
                RoleGrant.objects.filter(pk=obj.pk).values_list("user_id", "group_id").first()
            )
        obj.save()
        object_saved(obj, previous)
        if former_holder and former_holder != (obj.user_id, obj.group_id):
            _sync_holders([former_holder])


def delete_objects(objects: Iterable[models.Model]) -> None:
    """Delete objects with their cascade, and drop the permissions that went with them: rows on
    deleted objects, and the rows of holders whose grants the cascade removed."""
    objects = list(objects)
    if not objects:
        return
    using = router.db_for_write(type(objects[0]))
    with transaction.atomic(using=using):
        collector = Collector(using=using, origin=objects)
        collector.collect(objects)
        doomed: dict[type[models.Model], set] = {}
        holders: set[tuple[int | None, int | None]] = set()
        affected: list[models.Model] = []
        for model, instances in collector.data.items():
            doomed.setdefault(model, set()).update(instance.pk for instance in instances)
            spec = REGISTRY.get(model_label(model))
            for instance in instances:
                if isinstance(instance, RoleGrant):
                    holders.add((instance.user_id, instance.group_id))
                if spec is not None:
                    affected.extend(_affected(instance, spec))
        for queryset in collector.fast_deletes:
            if queryset.model is RoleGrant:
                holders.update(queryset.values_list("user_id", "group_id"))
            if model_label(queryset.model) in REGISTRY:
                doomed.setdefault(queryset.model, set()).update(
                    queryset.values_list("pk", flat=True)
                )
        collector.delete()
        for model, pks in doomed.items():
            if model_label(model) in REGISTRY:
                _forget(model, pks)
        _sync_holders(holders)
        for target in affected:
            if target.pk not in doomed.get(type(target), set()):
                _refresh(target)


def replace_identity_grants(user, wanted: Iterable[dict]) -> bool:
    """Make the user's identity-provider grants exactly `wanted` (dicts of role, scope and the
    scope's object ids); console grants stay. Returns whether anything changed."""
    keys = ("role", "scope", "tenant_id", "gateway_id", "product_id", "customer_id")
    keys = (*keys, "subscription_id")

    def key_of(values: Mapping) -> tuple:
        return tuple(values.get(name) for name in keys)

    wanted_keys = {key_of(item) for item in wanted}
    existing = {
        key_of(values): values["pk"]
        for values in RoleGrant.objects.filter(
            user=user, source=GrantSource.IDENTITY_PROVIDER
        ).values("pk", *keys)
    }
    console = {
        key_of(values)
        for values in RoleGrant.objects.filter(user=user, source=GrantSource.CONSOLE).values(*keys)
    }
    stale = [pk for key, pk in existing.items() if key not in wanted_keys]
    missing = [key for key in wanted_keys - set(existing) - console]
    if not stale and not missing:
        return False
    with transaction.atomic():
        RoleGrant.objects.filter(pk__in=stale).delete()
        permissions = _Permissions()
        for key in missing:
            grant = RoleGrant.objects.create(
                user=user, source=GrantSource.IDENTITY_PROVIDER, **dict(zip(keys, key, strict=True))
            )
            # The grant itself is an object org admins of its tenant may view.
            spec = REGISTRY[model_label(RoleGrant)]
            _write(
                [
                    row
                    for holder_grant in _grants_containing(grant, spec)
                    for row in _rows_for_grant(holder_grant, permissions, only=grant)
                ]
            )
        sync_holder(user_id=user.pk)
        forget_cached_grants(user)
    return True


# --- consistency and documentation ------------------------------------------------------------


def matrix_errors() -> list[str]:
    """Rules the matrix must keep; a test asserts there are none."""
    errors = []
    for label, row in MATRIX_BY_MODEL.items():
        spec = REGISTRY.get(label)
        if spec is None:
            errors.append(f"{label}: in the matrix but not in REGISTRY")
            continue
        for role, actions in row.items():
            if actions and "view" not in actions:
                errors.append(f"{label} / {role}: every action needs view too")
            if "publish" in actions and label != "publishing.productpublish":
                errors.append(f"{label} / {role}: only product publishes are published")
            if spec.follows:
                source_row = MATRIX_BY_MODEL[spec.follows]
                if role != Role.SYSTEM_ADMIN and actions - {"view"}:
                    errors.append(f"{label} / {role}: follows {spec.follows}, so view only")
                if ("view" in actions) != ("view" in source_row[role]):
                    errors.append(f"{label} / {role}: view must match {spec.follows}")
            elif spec.describes:
                if actions - {"view"}:
                    errors.append(f"{label} / {role}: describes other objects, so view only")
            elif not spec.paths and role != Role.SYSTEM_ADMIN and actions:
                errors.append(f"{label} / {role}: a system-only model")
    for label in REGISTRY:
        if label not in MATRIX_BY_MODEL:
            errors.append(f"{label}: in REGISTRY but not in the matrix")
    return errors


def _describe_path(path: str) -> str:
    return "itself" if path == "" else " → ".join(path.split("__"))


def render_markdown() -> str:
    """docs/rbac.md, generated from MATRIX_BY_MODEL, ROLE_SCOPES and REGISTRY."""
    with translation.override("en"):
        lines = [
            "# Roles, scopes and permissions",
            "",
            "<!-- Generated from impgateway/rbac.py by "
            "`python manage.py sync_permissions --write-docs`; do not edit by hand. -->",
            "",
            "A **role grant** gives a user or a group one role at one scope: the whole system, "
            "a tenant (org), or one gateway, product, customer or subscription. The grant "
            "becomes django-guardian object permissions on every object in that scope, "
            "including objects created there later; system-scope grants act as model "
            "permissions. Superusers keep full access. Grants come from the console "
            "(*Role grants*) or from Keycloak at every sign-in (groups and roles, mapped by "
            "`OIDC_GRANT_RULES`); sign-in replaces the identity provider's grants and keeps "
            "the console's. `python manage.py sync_permissions` rebuilds every object "
            "permission from the grants.",
            "",
            "## Where each role can be granted",
            "",
            "| role | scopes |",
            "|---|---|",
        ]
        for role in ROLE_ORDER:
            lines.append(f"| `{role}` | {', '.join(f'`{s}`' for s in ROLE_SCOPES[role])} |")
        lines += [
            "",
            "## What each role may do",
            "",
            "On the objects its grant's scope reaches: **V** view, **A** add, **C** change, "
            "**D** delete, **P** publish (publish, withdraw, roll back); – nothing.",
            "",
            "| model | " + " | ".join(f"`{role}`" for role in ROLE_ORDER) + " |",
            "|---|" + "---|" * len(ROLE_ORDER),
        ]
        for label, row in MATRIX_BY_MODEL.items():
            cells = [
                "".join(a[0].upper() for a in ACTIONS if a in row[role]) or "–"
                for role in ROLE_ORDER
            ]
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        scopes = [scope for scope in Scope.values if scope != Scope.SYSTEM]
        lines += [
            "",
            "## Which objects a scope reaches",
            "",
            "A system grant reaches every object. For the other scopes, the path from an object "
            "to the scope's object (a tenant, gateway, product, customer or subscription); "
            "– means the scope does not reach the model.",
            "",
            "| model | " + " | ".join(f"`{scope}`" for scope in scopes) + " |",
            "|---|" + "---|" * len(scopes),
        ]
        for label, spec in REGISTRY.items():
            if spec.follows:
                cells = [f"as its `{spec.follows}`"] * len(scopes)
            else:
                cells = [
                    _describe_path(spec.paths[scope]) if scope in spec.paths else "–"
                    for scope in scopes
                ]
            lines.append(f"| `{label}` | " + " | ".join(cells) + " |")
        lines += [
            "",
            "Notes:",
            "",
            "- Revisions, deployment status and hostname claims are written by services and "
            "agents; they are visible wherever their publish is and have no permissions of "
            "their own.",
            "- Clusters are shared infrastructure that system admins run: a user sees the "
            "clusters their visible publishes target, and whoever may add publishes sees every "
            "cluster to choose from. Agents and registration tokens are for system admins only.",
            "- A new object lands in a scope through its own foreign keys, so *add* works at "
            "the scopes whose path starts with one (an org admin adds services to the tenant; "
            "a gateway owner of one gateway adds listeners to it, not gateways).",
            "- Foreign-key choices in forms and API payloads are the objects the user may view; "
            "an object outside them reads as not found.",
            "",
            "## Isolation inside a shared cluster",
            "",
            "Tenants share clusters, namespaces and gateways; what one tenant publishes can "
            "never write, take over or remove what another tenant published:",
            "",
            "- **Object names are the publish's own.** Every Kubernetes object of a publish is "
            "named `{product}-{environment}-{publish id}-…` and labelled with "
            "`imp-gateway.io/publish` (the publish id) and `imp-gateway.io/tenant`. No choice "
            "of names by another tenant can produce the same object names.",
            "- **The agent writes only its publish's objects.** Before every apply and every "
            "drift correction it reads the live object: one that carries another publish's id, "
            "or is not managed by Imp-Gateway, is left as it is and reported as a failed object "
            "with a conflict (the message names no other publish), and the owning publish gets "
            "a `refused` event. Pruning deletes only objects that the publish's own inventory "
            "lists and that still carry its labels.",
            "- **A hostname has one owner per cluster.** Product slugs, the first label of the "
            "generated hostnames, are unique across all tenants, and the publish that first "
            "publishes a hostname on a cluster owns it (a hostname claim) until it is withdrawn, "
            "moved or deleted: no other publish, of any tenant, can add routes for it there. A "
            "refusal says the hostname is taken and names nothing of another tenant's.",
            "- **Agents see only their cluster.** An agent token is scoped to one cluster; "
            "disabling an agent revokes its tokens at once, waiting long-polls included.",
            "",
            *_grant_rules_markdown(),
        ]
    return "\n".join(lines)


def _grant_rules_markdown() -> list[str]:
    # The rules live with the sign-in code, which imports this module.
    from .auth import DEFAULT_GRANT_RULES

    lines = [
        "## Keycloak claims to grants",
        "",
        "At every sign-in (and for every new API token) the claims of the ID token and userinfo "
        "(or of the JWT access token) are matched against `OIDC_GRANT_RULES`, a JSON list of "
        "rules. A rule reads the string values at `claim` (a dotted path; `{client_id}` is "
        "`OIDC_RP_CLIENT_ID`) and matches each against `match`, where `{role}`, `{tenant}`, "
        "`{gateway}` (name), `{product}` and `{customer}` (slugs) each stand for one path "
        "segment. The role is `{role}` or the rule's `role`; the scope is the narrowest object "
        "named (gateway, product, customer; else the tenant's org; else system). A rule with "
        "`tenants` takes the tenants from a second claim instead. Roles outside the scopes they "
        "can be granted at, and names that match no object, are skipped (and logged). Only "
        "point rules at claims users cannot edit themselves.",
        "",
        "The default rules, in force while `OIDC_GRANT_RULES` is unset:",
        "",
        "| claim | match | role | tenants from |",
        "|---|---|---|---|",
    ]
    for rule in DEFAULT_GRANT_RULES:
        tenants = rule.get("tenants")
        source = f"`{tenants['claim']}` = `{tenants['match']}`" if tenants else "–"
        role = f"`{rule['role']}`" if rule.get("role") else "`{role}`"
        lines.append(f"| `{rule['claim']}` | `{rule['match']}` | {role} | {source} |")
    lines.append("")
    return lines
