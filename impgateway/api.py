"""The REST API's shared base: every domain viewset inherits `ScopedModelViewSet`, which
restricts the queryset, the foreign-key choices of payloads and every write by the caller's
role grants (impgateway/rbac.py), so no view can forget to. Also `GET /api/v1/me/`."""

from __future__ import annotations

import copy
from typing import ClassVar

from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import rbac
from .models import RoleGrant

_ACTIONS_BY_VIEW_ACTION = {
    "list": "view",
    "retrieve": "view",
    "metadata": "view",
    "create": "add",
    "update": "change",
    "partial_update": "change",
    "destroy": "delete",
}


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = _("Other objects still refer to this one.")
    default_code = "conflict"


class ScopedPermission(permissions.BasePermission):
    """Model- and object-level checks by role grants, for the action the view is doing."""

    message = _("Your roles do not allow this here.")

    def has_permission(self, request: Request, view) -> bool:
        user = request.user
        if not (user and user.is_authenticated):
            return False
        return rbac.has_model_permission(user, view.scoped_model(), view.rbac_action())

    def has_object_permission(self, request: Request, view, obj: models.Model) -> bool:
        perm = rbac.permission_name(obj, view.rbac_action())
        return rbac.has_object_permission(request.user, perm, obj)


def restrict_choices(serializer: serializers.BaseSerializer, user) -> None:
    """Limit every writable relation of a serializer (nested ones too) to objects the user may
    view: a reference to anything else reads as 'does not exist'."""
    if isinstance(serializer, serializers.ListSerializer):
        restrict_choices(serializer.child, user)
        return
    if not isinstance(serializer, serializers.Serializer):
        return
    for field in serializer.fields.values():
        if isinstance(field, serializers.BaseSerializer):
            restrict_choices(field, user)
            continue
        relation = (
            field.child_relation if isinstance(field, serializers.ManyRelatedField) else field
        )
        if (
            isinstance(relation, serializers.RelatedField)
            and not relation.read_only
            and relation.queryset is not None
        ):
            relation.queryset = rbac.restrict(relation.queryset.all(), user, "view")


class ScopedModelViewSet(viewsets.ModelViewSet):
    """Base of every model viewset: subclasses declare `queryset`, `serializer_class` and
    `filterset_class`; this class scopes reads, payload references and writes by role grants.
    Custom actions name the permission they need in `rbac_actions` ({"publish": "publish"});
    undeclared ones need change."""

    permission_classes = (permissions.IsAuthenticated, ScopedPermission)
    rbac_actions: ClassVar[dict[str, str]] = {}

    def scoped_model(self) -> type[models.Model]:
        return self.queryset.model

    def rbac_action(self) -> str:
        if self.action in self.rbac_actions:
            return self.rbac_actions[self.action]
        return _ACTIONS_BY_VIEW_ACTION.get(self.action, "change")

    def get_queryset(self):
        return rbac.restrict(super().get_queryset(), self.request.user, "view")

    def get_serializer(self, *args, **kwargs):
        serializer = super().get_serializer(*args, **kwargs)
        restrict_choices(serializer, self.request.user)
        return serializer

    def _check_may_save(self, instance: models.Model, action: str) -> None:
        if not rbac.may_save(self.request.user, instance, action):
            raise exceptions.PermissionDenied(
                _("Your roles do not allow this %(model)s here.")
                % {"model": instance._meta.verbose_name}
            )

    def _candidate(self, serializer: serializers.ModelSerializer) -> models.Model:
        """The object as it would be saved, unsaved, to check where it lands."""
        model = self.scoped_model()
        concrete = {f.name for f in model._meta.concrete_fields}
        values = {k: v for k, v in serializer.validated_data.items() if k in concrete}
        if serializer.instance is None:
            return model(**values)
        candidate = copy.copy(serializer.instance)
        for name, value in values.items():
            setattr(candidate, name, value)
        return candidate

    def perform_create(self, serializer) -> None:
        self._check_may_save(self._candidate(serializer), "add")
        with transaction.atomic():
            instance = serializer.save()
            rbac.object_saved(instance, None)

    def perform_update(self, serializer) -> None:
        self._check_may_save(self._candidate(serializer), "change")
        with transaction.atomic():
            previous = rbac.scope_snapshot(serializer.instance)
            instance = serializer.save()
            rbac.object_saved(instance, previous)

    def perform_destroy(self, instance: models.Model) -> None:
        try:
            rbac.delete_objects([instance])
        except (ProtectedError, RestrictedError):
            raise Conflict(
                _("Other objects still refer to this %(model)s.")
                % {"model": instance._meta.verbose_name}
            ) from None


class GrantSerializer(serializers.ModelSerializer):
    holder = serializers.SerializerMethodField()
    scope_object = serializers.SerializerMethodField()
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)

    class Meta:
        model = RoleGrant
        fields = ("id", "role", "scope", "scope_object", "tenant", "holder", "source")
        read_only_fields = fields

    def get_holder(self, grant: RoleGrant) -> str:
        return f"group:{grant.group.name}" if grant.group_id else "user"

    def get_scope_object(self, grant: RoleGrant) -> dict | None:
        target = grant.scope_object
        if target is None:
            return None
        return {"type": target._meta.model_name, "id": target.pk, "name": str(target)}


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.EmailField()
    first_name = serializers.CharField()
    last_name = serializers.CharField()
    is_superuser = serializers.BooleanField()
    grants = GrantSerializer(many=True)
    permissions = serializers.DictField(
        child=serializers.ListField(child=serializers.ChoiceField(choices=rbac.ACTIONS)),
        help_text=_("For each model (app.model), the actions allowed on some of its objects."),
    )


class MeView(APIView):
    """The caller: who they are, their role grants and what they may do on which models."""

    permission_classes = (permissions.IsAuthenticated,)

    @extend_schema(responses=MeSerializer)
    def get(self, request: Request) -> Response:
        user = request.user
        grants = (
            RoleGrant.objects.filter(pk__in=[grant.pk for grant in rbac.user_grants(user)])
            .select_related("group", "tenant", "gateway", "product", "customer")
            .select_related("subscription__customer", "subscription__product")
        )
        me = {
            "username": user.get_username(),
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "is_superuser": user.is_superuser,
            "grants": grants,
            "permissions": rbac.effective_permissions(user),
        }
        return Response(MeSerializer(me).data)
