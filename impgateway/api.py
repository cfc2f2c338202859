"""The REST API's shared base: every domain viewset inherits `ScopedGenericViewSet` (through
`ScopedModelViewSet` or `ScopedReadOnlyModelViewSet`), which restricts the queryset, the
foreign-key choices of payloads and every write by the caller's role grants
(impgateway/rbac.py), so no view can forget to, and gives objects an `ETag` that `If-Match`
checks before a write. Serializers validate through the models (`ValidatedModelSerializer`).
Also `GET /api/v1/me/`."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from typing import ClassVar

import django_filters
from django import forms
from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import models, transaction
from django.db.models import ProtectedError, RestrictedError
from django.http import JsonResponse
from django.utils.cache import parse_etags
from django.utils.translation import gettext_lazy as _
from django.views import defaults
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_view,
)
from rest_framework import (
    exceptions,
    mixins,
    pagination,
    permissions,
    serializers,
    status,
    viewsets,
)
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from clusters.protocol import AGENT_API_PREFIX, ErrorCode

from . import audit, rbac
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


class PreconditionFailed(exceptions.APIException):
    status_code = status.HTTP_412_PRECONDITION_FAILED
    default_detail = _("The object changed since you read it: read it again, then retry.")
    default_code = "precondition_failed"


def object_etag(obj: models.Model) -> str:
    """A strong ETag of an object's version: its model, primary key and last change."""
    stamp = getattr(obj, "updated", None) or getattr(obj, "created", None)
    version = f"{obj._meta.label_lower}:{obj.pk}:{stamp.isoformat() if stamp else ''}"
    return f'"{hashlib.sha256(version.encode()).hexdigest()[:32]}"'


def field_errors(error: DjangoValidationError, fields: Iterable[str]) -> dict[str, list[str]]:
    """A Django ValidationError as a DRF error body keyed by field. Model constraints and
    services say which field they are about as a "field: rule" prefix; such messages go under
    that field, the others under non_field_errors."""
    names = set(fields)
    if hasattr(error, "error_dict"):
        items = list(error.message_dict.items())
    else:
        items = [(NON_FIELD_ERRORS, error.messages)]
    detail: dict[str, list[str]] = {}
    for key, messages in items:
        for message in messages:
            target = key
            if key == NON_FIELD_ERRORS:
                prefix, separator, _rest = message.partition(": ")
                target = prefix if separator and prefix in names else NON_FIELD_ERRORS
            if target == NON_FIELD_ERRORS:
                target = api_settings.NON_FIELD_ERRORS_KEY
            detail.setdefault(target, []).append(message)
    return detail


class ValidatedModelSerializer(serializers.ModelSerializer):
    """A model serializer that validates the object it would save through the model:
    `full_clean()` (field validators, `clean()`, named constraints), so the API keeps exactly
    the admin's rules and 400s name the field. `clean()` may normalise values (policy
    configuration); what it leaves on the object is what gets saved."""

    def get_validators(self) -> list:
        # Uniqueness is the model's constraints' business, with their field-naming messages.
        return list(getattr(self.Meta, "validators", ()))

    def validate(self, attrs: dict) -> dict:
        attrs = super().validate(attrs)
        model = self.Meta.model
        concrete = {field.name for field in model._meta.concrete_fields}
        values = {name: value for name, value in attrs.items() if name in concrete}
        if self.instance is None:
            candidate = model(**values)
        else:
            candidate = copy.copy(self.instance)
            for name, value in values.items():
                setattr(candidate, name, value)
        exclude = [name for name in concrete if name not in self.fields]
        try:
            candidate.full_clean(exclude=exclude)
            self.clean_related(candidate, attrs)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(field_errors(exc, self.fields)) from None
        for name in values:
            attrs[name] = getattr(candidate, name)
        return attrs

    def clean_related(self, candidate: models.Model, attrs: dict) -> None:
        """Rules on many-to-many values, which `full_clean()` cannot see; raise ValidationError."""


def service_call(function, *args, fields: Iterable[str] = (), **kwargs):
    """Call a service function; its ValidationError becomes a 400 keyed by field."""
    try:
        return function(*args, **kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(field_errors(exc, fields)) from None


# --- Lists: filters and pages ---------------------------------------------------------------

# Larger numbers than a database integer holds are refused as input, not sent to the database.
_BIGGEST_ID = 2**63 - 1


PREFETCHED_PREFIX = "prefetched_"


class PrefetchedListSerializer(serializers.ListSerializer):
    """The list serializer of nested read-only relations: it takes the list a view prefetched
    with `Prefetch(<relation>, ..., to_attr="prefetched_<relation>")` when the object has one,
    and the relation otherwise (an object just created or updated).

    Prefetching into the relation itself makes Django build a queryset per object to hold
    each cached list; for a page of 50 API services with three relations that was 150 of them.
    """

    def get_attribute(self, instance):
        prefetched = getattr(instance, PREFETCHED_PREFIX + self.source, None)
        if prefetched is not None:
            return prefetched
        return super().get_attribute(instance)


def prefetch_list(relation: str, queryset: models.QuerySet) -> models.Prefetch:
    """The prefetch a `PrefetchedListSerializer` for `relation` reads."""
    return models.Prefetch(relation, queryset=queryset, to_attr=PREFETCHED_PREFIX + relation)


class IdFilter(django_filters.NumberFilter):
    """A whole number within the database's integer range (ids, ports, counts)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("min_value", 0)
        kwargs.setdefault("max_value", _BIGGEST_ID)
        super().__init__(*args, **kwargs)


class BaseFilterSet(django_filters.FilterSet):
    """Base of every API FilterSet: integer fields filter through IdFilter."""

    FILTER_DEFAULTS = {
        **django_filters.FilterSet.FILTER_DEFAULTS,
        **{
            field: {"filter_class": IdFilter}
            for field in (
                models.AutoField,
                models.BigAutoField,
                models.IntegerField,
                models.BigIntegerField,
                models.PositiveIntegerField,
                models.PositiveBigIntegerField,
                models.PositiveSmallIntegerField,
                models.SmallIntegerField,
            )
        },
    }


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """`?limit=&offset=` pages of 50 by default, at most 1000; offsets past any real list
    are cut to one the database can take."""

    default_limit = 50
    max_limit = 1000
    max_offset = 2**31 - 1

    def get_offset(self, request: Request) -> int:
        return min(super().get_offset(request), self.max_offset)


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
            _restrict_when_used(relation, user)


def _restrict_when_used(relation: serializers.RelatedField, user) -> None:
    """Restrict the relation's choices when it first asks for them (validating a write,
    rendering a form, OPTIONS): a JSON read never does, and need not pay for it."""
    unrestricted = relation.queryset

    def get_queryset():
        return rbac.restrict(unrestricted.all(), user, "view")

    relation.get_queryset = get_queryset


class ScopedGenericViewSet(viewsets.GenericViewSet):
    """Base of every model viewset: subclasses declare `queryset`, `serializer_class` and
    `filterset_class` (and `search_fields`, `ordering_fields`); this class scopes reads,
    payload references and writes by role grants. Custom actions name the permission they need
    in `rbac_actions` ({"publish": "publish"}); undeclared ones need change.

    Objects carry an `ETag`; a write (or a detail action by POST) with `If-Match` that no
    longer matches is refused with 412, so a client cannot overwrite a change it has not seen.
    """

    permission_classes = (permissions.IsAuthenticated, ScopedPermission)
    pagination_class = LimitOffsetPagination
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

    def dispatch(self, request, *args, **kwargs):
        # Whatever service a request calls records its change with the API as the source.
        # A write runs in one transaction, so that the If-Match precondition is checked on
        # the row it then changes, locked (get_object): two writers holding one ETag cannot
        # both succeed.
        with audit.acting_through(audit.AuditSource.API):
            if request.method in permissions.SAFE_METHODS:
                return super().dispatch(request, *args, **kwargs)
            with transaction.atomic():
                return super().dispatch(request, *args, **kwargs)

    def get_object(self) -> models.Model:
        obj = super().get_object()
        if self.request.method not in permissions.SAFE_METHODS:
            # Lock its row only (the scoped queryset may join others), then read it again:
            # what a concurrent writer committed meanwhile is what the precondition sees.
            type(obj)._default_manager.select_for_update(of=("self",)).filter(
                pk=obj.pk
            ).order_by().values_list("pk").get()
            obj = super().get_object()
            self._check_precondition(obj)
        self.etag_object = obj
        return obj

    def _check_precondition(self, obj: models.Model) -> None:
        header = self.request.headers.get("If-Match")
        if not header:
            return
        wanted = parse_etags(header)
        current = object_etag(obj)
        if "*" not in wanted and current not in wanted:
            raise PreconditionFailed

    def finalize_response(self, request: Request, response: Response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        obj = getattr(self, "etag_object", None)
        if obj is not None and obj.pk is not None and status.is_success(response.status_code):
            response["ETag"] = object_etag(obj)
        return response

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
            audit.record(
                self.request.user, audit.AuditAction.CREATE, instance, None,
                audit.snapshot(instance), audit.AuditSource.API,
            )
        self.etag_object = instance

    def perform_update(self, serializer) -> None:
        self._check_may_save(self._candidate(serializer), "change")
        with transaction.atomic():
            previous = rbac.scope_snapshot(serializer.instance)
            before = audit.current(serializer.instance)
            instance = serializer.save()
            rbac.object_saved(instance, previous)
            audit.record(
                self.request.user, audit.AuditAction.UPDATE, instance, before,
                audit.snapshot(instance), audit.AuditSource.API,
            )
        self.etag_object = instance

    def perform_destroy(self, instance: models.Model) -> None:
        try:
            with transaction.atomic():
                self.delete_object(instance)
        except (ProtectedError, RestrictedError):
            raise Conflict(
                _("Other objects still refer to this %(model)s.")
                % {"model": instance._meta.verbose_name}
            ) from None
        self.etag_object = None

    def delete_object(self, instance: models.Model) -> None:
        """Delete the object, audited; viewsets whose deletion is a service operation (one
        that changes what clusters run) override this to call the service."""
        audit.record(
            self.request.user, audit.AuditAction.DELETE, instance,
            audit.snapshot(instance), None, audit.AuditSource.API,
        )
        rbac.delete_objects([instance])


_IF_MATCH = OpenApiParameter(
    "If-Match",
    str,
    OpenApiParameter.HEADER,
    description=_("The ETag read before; a write to a changed object is refused with 412."),
)
_PRECONDITION_FAILED = OpenApiResponse(description=_("The object changed since it was read."))
_CONDITIONAL_WRITE = extend_schema(parameters=[_IF_MATCH], responses={412: _PRECONDITION_FAILED})


@extend_schema_view(
    update=_CONDITIONAL_WRITE, partial_update=_CONDITIONAL_WRITE, destroy=_CONDITIONAL_WRITE
)
class ScopedModelViewSet(
    ScopedGenericViewSet,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
):
    """Create, read, update and delete, scoped (see ScopedGenericViewSet). The scoped base
    comes first so its perform_create/update/destroy win over the mixins'."""


class ScopedReadOnlyModelViewSet(
    ScopedGenericViewSet, mixins.RetrieveModelMixin, mixins.ListModelMixin
):
    """List and read, scoped; custom actions may still write through services."""


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


def server_error(request, *args, **kwargs):
    """The 500 page: JSON for API clients and agents (who cannot read an HTML page), the
    console's page for everyone else."""
    if request.path.startswith(AGENT_API_PREFIX):
        return JsonResponse(
            {"error": ErrorCode.SERVER_ERROR, "detail": "the control plane failed; retry later"},
            status=500,
        )
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": str(_("Server error."))}, status=500)
    return defaults.server_error(request, *args, **kwargs)
