"""The admin console's shared pieces: the base classes every model admin and inline uses. They
scope everything a user sees and does by role grants (impgateway/rbac.py): querysets, object
pages, actions, foreign-key and inline choices, list filters and saves. State changes go
through the services only: objects whose creation is an operation are created by their service
from the add form, and objects that change only through operations have read-only pages with
the operations as buttons (admin actions that call the services, as the API's actions do)."""

from __future__ import annotations

import functools

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import get_fields_from_path, unquote
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import models, transaction
from django.forms.models import BaseModelFormSet, _get_foreign_key
from django.http import HttpRequest, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from . import audit, rbac
from .api import field_errors
from .models import ROLE_SCOPES, AuditEvent, RoleGrant, Scope
from .validators import MAX_JSON_DEPTH, json_problem


class ScopedModelForm(forms.ModelForm):
    """Refuses to save an object where the user's roles do not reach: a new object must land
    in a scope that allows adding it, a changed one in a scope that allows changing it.

    For a model whose creation is an operation, `create_through` (set per request by
    ImpModelAdmin.get_form) creates the object through its service once the form is valid;
    what the service refuses becomes the form's errors, and nothing is written."""

    rbac_user = None
    create_through = None

    def _post_clean(self) -> None:
        super()._post_clean()
        user = self.rbac_user
        adding = self.instance._state.adding
        if user is None or self._errors or not (adding or self.has_changed()):
            return
        if not rbac.may_save(user, self.instance, "add" if adding else "change"):
            self._refuse_scope(adding)
        elif adding and self.create_through is not None:
            self._create_through_service()

    def _create_through_service(self) -> None:
        try:
            # A savepoint: a refusal leaves nothing behind in the page's transaction.
            with transaction.atomic():
                self.instance = self.create_through(self)
        except ValidationError as exc:
            for name, messages in field_errors(exc, self.fields).items():
                self.add_error(name if name in self.fields else None, messages)
        except PermissionDenied as exc:
            self.add_error(None, str(exc))

    def _refuse_scope(self, adding: bool) -> None:
        field = next(
            (
                name
                for name in rbac.scope_fields(type(self.instance))
                if name in self.fields and not self.fields[name].widget.is_hidden
            ),
            None,
        )
        self.add_error(
            field,
            forms.ValidationError(
                _("Your roles do not allow %(action)s this %(model)s here."),
                code="not_in_scope",
                params={
                    "action": _("adding") if adding else _("saving"),
                    "model": self.instance._meta.verbose_name,
                },
            ),
        )


def scoped_form(
    form_class: type[forms.ModelForm], user, create_through=None
) -> type[forms.ModelForm]:
    """A subclass of the form bound to the user whose roles it checks on save (a class of its
    own per request, so no user ever rides on a shared class), and to the service call that
    creates its object, if creating one is an operation."""
    bases = (
        (form_class,) if issubclass(form_class, ScopedModelForm) else (ScopedModelForm, form_class)
    )
    attributes = {"rbac_user": user, "__module__": form_class.__module__}
    if create_through is not None:
        attributes["create_through"] = create_through
    return type(form_class.__name__, bases, attributes)


class ConcurrentEditForm(ScopedModelForm):
    """Refuses to save over a change someone else saved after this form was opened."""

    seen_updated = forms.CharField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk and getattr(self.instance, "updated", None):
            self.fields["seen_updated"].initial = self.instance.updated.isoformat()

    def clean(self) -> dict:
        cleaned = super().clean()
        seen = cleaned.get("seen_updated")
        if self.instance.pk and seen:
            # The admin wraps the save in a transaction: locking the row here makes the
            # check and the write one step on databases that support row locks.
            current = (
                type(self.instance)
                ._default_manager.select_for_update()
                .filter(pk=self.instance.pk)
                .values_list("updated", flat=True)
                .first()
            )
            if current is not None and current.isoformat() != seen:
                raise forms.ValidationError(
                    _(
                        "Someone else changed this %(model)s since you opened it. "
                        "Reload the page to see their change, then edit again."
                    ),
                    code="concurrent_edit",
                    params={"model": self.instance._meta.verbose_name},
                )
        return cleaned


class ScopedRelatedFieldListFilter(admin.RelatedFieldListFilter):
    """A related-object list filter that offers only the objects the user may view."""

    def field_choices(self, field, request, model_admin):
        queryset = rbac.restrict(field.related_model._default_manager.all(), request.user)
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            queryset = queryset.order_by(*ordering)
        value_of = field.remote_field.get_related_field().attname
        return [(getattr(obj, value_of), str(obj)) for obj in queryset]


def scoped_formset(formset_class: type[BaseModelFormSet]) -> type[BaseModelFormSet]:
    """A model formset whose hidden primary-key fields accept only the formset's own (already
    scoped) objects, not any object of the model."""

    class ScopedFormSet(formset_class):
        def add_fields(self, form, index) -> None:
            super().add_fields(form, index)
            pk_field = form.fields.get(self.model._meta.pk.name)
            if isinstance(pk_field, forms.ModelChoiceField):
                pk_field.queryset = self.get_queryset()

    ScopedFormSet.__name__ = ScopedFormSet.__qualname__ = formset_class.__name__
    return ScopedFormSet


def _restrict_formfield(formfield, request: HttpRequest):
    if formfield is not None and getattr(formfield, "queryset", None) is not None:
        formfield.queryset = rbac.restrict(formfield.queryset.all(), request.user)
    return formfield


class BoundedJSONFormField(forms.JSONField):
    """A JSON form field that refuses, as a form error on the field, what would otherwise be a
    500: documents nested past MAX_JSON_DEPTH (the decoder itself gives up around 1,000
    levels) and strings with NUL or unpaired surrogates, which PostgreSQL cannot store."""

    def to_python(self, value):
        try:
            converted = super().to_python(value)
        except RecursionError:
            raise forms.ValidationError(
                _("JSON nested deeper than %(depth)s levels.") % {"depth": MAX_JSON_DEPTH},
                code="invalid",
            ) from None
        problem = json_problem(converted)
        if problem:
            where, rule = problem
            raise forms.ValidationError(
                _("%(where)s: %(rule)s.") % {"where": where, "rule": rule}, code="invalid"
            )
        return converted

    def bound_data(self, data, initial):
        # The form shown again keeps what the user typed when it is refused: a decoded
        # surrogate could not even be written into the page.
        try:
            value = super().bound_data(data, initial)
        except RecursionError:
            return forms.fields.InvalidJSONInput(data)
        if self.disabled or isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return forms.fields.InvalidJSONInput(data) if json_problem(value) else value


class _ScopedAdminBase:
    """What ImpModelAdmin and ImpTabularInline share: querysets and choices by role grants,
    and JSON fields that refuse hostile documents with a form error."""

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.JSONField):
            kwargs["form_class"] = BoundedJSONFormField
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_queryset(self, request):
        return rbac.restrict(super().get_queryset(request), request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        formfield = super().formfield_for_foreignkey(db_field, request, **kwargs)
        return _restrict_formfield(formfield, request)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        formfield = super().formfield_for_manytomany(db_field, request, **kwargs)
        return _restrict_formfield(formfield, request)

    def _may(self, request: HttpRequest, action: str, obj: models.Model | None = None) -> bool:
        """Model-level check without an object, object-level with one; cached per request."""
        if obj is None:
            return rbac.has_model_permission(request.user, self.model, action)
        cache = request.__dict__.setdefault("_impgateway_object_checks", {})
        key = (rbac.model_label(obj), obj.pk, action)
        if key not in cache:
            perm = rbac.permission_name(obj, action)
            cache[key] = rbac.has_object_permission(request.user, perm, obj)
        return cache[key]


class ImpModelAdmin(_ScopedAdminBase, admin.ModelAdmin):
    """Base admin for Imp-Gateway models: scoping by role grants, concurrent-edit detection and
    sane defaults. Actions act only on the selected objects their `allowed_permissions` (change
    when none is declared) allow.

    Subclasses whose objects are made or changed by operations declare it:
    - `create_object(request, form)`: creating the object is an operation; called with the valid
      add form, it calls the service and returns the new object (ValidationError and
      PermissionDenied become the form's errors);
    - `changed_by_operations_only`: the object page is read-only (a POST to it is refused); the
      object changes only through the admin's actions, which call the services;
    - `object_actions`: {action name: button label}, actions also offered as buttons on the
      object's page, where `object_action_applies` says they apply.
    """

    form = ConcurrentEditForm
    list_per_page = 50
    show_full_result_count = False
    readonly_fields: tuple[str, ...] = ("created", "updated")
    create_object = None
    changed_by_operations_only = False
    object_actions: dict[str, str] = {}

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if isinstance(db_field, models.URLField):
            kwargs["assume_scheme"] = "https"
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        # The hidden concurrency field rides along with every change form.
        if "seen_updated" not in fields:
            fields.append("seen_updated")
        return fields

    # --- permissions ------------------------------------------------------------------------

    def has_module_permission(self, request) -> bool:
        return any(self._may(request, action) for action in ("view", "add", "change", "delete"))

    def has_view_permission(self, request, obj=None) -> bool:
        return self._may(request, "view", obj) or self._may(request, "change", obj)

    def has_add_permission(self, request) -> bool:
        return self._may(request, "add")

    def has_change_permission(self, request, obj=None) -> bool:
        if obj is not None and self.changed_by_operations_only:
            # The page shows the object; its actions change it (through the services).
            return False
        return self._may(request, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        return self._may(request, "delete", obj)

    def has_publish_permission(self, request, obj=None) -> bool:
        return self._may(request, "publish", obj)

    # --- forms, filters and actions ---------------------------------------------------------

    def get_form(self, request, obj=None, change=False, **kwargs):
        create_through = None
        if obj is None and self.create_object is not None:
            create_through = functools.partial(self.create_object, request)
        form = scoped_form(
            super().get_form(request, obj, change=change, **kwargs), request.user, create_through
        )
        if obj is None:
            # A new object may only land where the user may add it: narrow the foreign keys
            # that decide its scope.
            for name in rbac.scope_fields(self.model):
                field = form.base_fields.get(name)
                addable = rbac.addable_parents(request.user, self.model, name)
                if field is not None and addable is not None:
                    field.queryset = field.queryset.filter(pk__in=addable.values("pk"))
        return form

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not queryset.ordered:
            # Annotated querysets (counts) lose the model's default ordering, and the
            # autocomplete pages through what this returns.
            ordering = self.get_ordering(request) or self.model._meta.ordering or ()
            queryset = queryset.order_by(*ordering, "pk")
        return queryset, may_have_duplicates

    def get_changelist_formset(self, request, **kwargs):
        return scoped_formset(super().get_changelist_formset(request, **kwargs))

    def get_list_filter(self, request):
        scoped = []
        for item in super().get_list_filter(request):
            if isinstance(item, str):
                try:
                    model_field = get_fields_from_path(self.model, item)[-1]
                except FieldDoesNotExist:
                    model_field = None
                if isinstance(model_field, models.ForeignKey | models.ManyToManyField):
                    item = (item, ScopedRelatedFieldListFilter)
            scoped.append(item)
        return scoped

    def get_actions(self, request):
        return {
            name: (_scoped_action(func), name, description)
            for name, (func, name, description) in super().get_actions(request).items()
        }

    # --- operations as buttons on an object's page ------------------------------------------

    def get_urls(self):
        opts = self.model._meta
        return [
            path(
                "<path:object_id>/actions/<str:action>/",
                self.admin_site.admin_view(self.object_action_view),
                name=f"{opts.app_label}_{opts.model_name}_object_action",
            ),
            *super().get_urls(),
        ]

    def object_action_applies(self, request: HttpRequest, obj: models.Model, action: str) -> bool:
        """Whether the button of `action` belongs on the object's page (its state allows it)."""
        return True

    def _object_action(self, request: HttpRequest, obj: models.Model, action: str):
        """The scoped action function, when the user may run it on the object; else None."""
        if action not in self.object_actions:
            return None
        available = self.get_actions(request)
        if action not in available:
            return None
        func = available[action][0]
        if not all(self._may(request, needed, obj) for needed in _action_permissions(func)):
            return None
        return func

    def object_action_view(self, request: HttpRequest, object_id: str, action: str):
        """Run one of `object_actions` on one object (a POST from its page's button)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        func = self._object_action(request, obj, action)
        if func is None:
            raise PermissionDenied
        func(self, request, self.get_queryset(request).filter(pk=obj.pk))
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if self.object_actions else None
        if obj is not None:
            opts = self.model._meta
            extra_context = {
                **(extra_context or {}),
                "object_actions": [
                    {
                        "name": name,
                        "label": label,
                        "url": reverse(
                            f"admin:{opts.app_label}_{opts.model_name}_object_action",
                            args=[obj.pk, name],
                        ),
                    }
                    for name, label in self.object_actions.items()
                    if self._object_action(request, obj, name) is not None
                    and self.object_action_applies(request, obj, name)
                ],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    # --- saving and deleting ----------------------------------------------------------------

    def save_model(self, request, obj, form, change) -> None:
        if not change and form.create_through is not None:
            return  # the service made it while the form was checked
        before = audit.current(obj) if change else None
        rbac.save_object(obj)
        self._audit_saved(request, obj, before)

    def save_related(self, request, form, formsets, change) -> None:
        if not change and form.create_through is not None:
            # The service set the object's many-to-many values; its inlines still save.
            for formset in formsets:
                self.save_formset(request, form, formset, change=change)
            return
        super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change) -> None:
        instances = formset.save(commit=False)
        self._audit_deleted(request, formset.deleted_objects)
        rbac.delete_objects(formset.deleted_objects)
        for instance in instances:
            before = None if instance._state.adding else audit.current(instance)
            rbac.save_object(instance)
            self._audit_saved(request, instance, before)
        formset.save_m2m()

    def get_deleted_objects(self, objs, request):
        # What cascades goes with the object, as in the API: the right to delete the object
        # is the one that counts (revisions, which nobody deletes by hand, go with their
        # publish; keys with their customer). Objects that protect it still refuse.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj) -> None:
        self._audit_deleted(request, [obj])
        rbac.delete_objects([obj])

    def delete_queryset(self, request, queryset) -> None:
        self._audit_deleted(request, list(queryset))
        rbac.delete_objects(queryset)

    def _audit_saved(self, request, obj, before: dict | None) -> None:
        action = audit.AuditAction.CREATE if before is None else audit.AuditAction.UPDATE
        after = audit.snapshot(obj)
        audit.record(request.user, action, obj, before, after, audit.AuditSource.CONSOLE)

    def _audit_deleted(self, request, objects) -> None:
        for obj in objects:
            audit.record(
                request.user,
                audit.AuditAction.DELETE,
                obj,
                audit.snapshot(obj),
                None,
                audit.AuditSource.CONSOLE,
            )

    # --- the audit trail of one object, behind the change page's "History" link -----------

    def history_view(self, request, object_id, extra_context=None):
        obj = self.get_object(request, admin.utils.unquote(object_id))
        if obj is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        if not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied
        content_type = ContentType.objects.get_for_model(obj, for_concrete_model=False)
        events = audit.AuditEvent.objects.filter(
            content_type=content_type, object_id=obj.pk
        ).select_related("user")[:200]
        context = {
            **self.admin_site.each_context(request),
            "title": _("Change history: %s") % obj,
            "subtitle": None,
            "events": [(event, audit_changes(event)) for event in events],
            "module_name": str(capfirst(self.opts.verbose_name_plural)),
            "object": obj,
            "opts": self.opts,
            "preserved_filters": self.get_preserved_filters(request),
            "trail_url": reverse("admin:impgateway_auditevent_changelist")
            + f"?content_type__id__exact={content_type.pk}&object_id={obj.pk}",
            **(extra_context or {}),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/impgateway/audit_history.html", context)


def _action_permissions(func) -> tuple[str, ...]:
    return tuple(getattr(func, "allowed_permissions", None) or ("change",))


def _scoped_action(func):
    """An admin action that receives only the selected objects the user may act on."""
    required = _action_permissions(func)

    @functools.wraps(func)
    def scoped(modeladmin, request, queryset):
        for action in required:
            queryset = rbac.restrict(queryset, request.user, action)
        if not queryset.exists():
            modeladmin.message_user(
                request,
                _("Your roles do not allow this on the selected %(models)s.")
                % {"models": modeladmin.model._meta.verbose_name_plural},
                messages.WARNING,
            )
            return None
        return func(modeladmin, request, queryset)

    return scoped


class ImpTabularInline(_ScopedAdminBase, admin.TabularInline):
    """Base inline for Imp-Gateway models: rows, choices and saves scoped by role grants."""

    extra = 0
    form = ScopedModelForm

    def _probe(self, obj: models.Model) -> models.Model:
        """An unsaved child of `obj`, to ask where a child of it would land."""
        fk = _get_foreign_key(self.parent_model, self.model, fk_name=self.fk_name)
        return self.model(**{fk.name: obj})

    def _may_under(self, request, action: str, obj: models.Model | None) -> bool:
        if obj is None or obj.pk is None:
            return self._may(request, action)
        return rbac.may_save(request.user, self._probe(obj), action)

    def has_view_permission(self, request, obj=None) -> bool:
        if self.opts.auto_created:
            return super().has_view_permission(request, obj)
        return self._may(request, "view") or self._may(request, "change")

    def has_add_permission(self, request, obj) -> bool:
        if self.opts.auto_created:
            return super().has_add_permission(request, obj)
        return self._may_under(request, "add", obj)

    def has_change_permission(self, request, obj=None) -> bool:
        if self.opts.auto_created:
            return super().has_change_permission(request, obj)
        return self._may_under(request, "change", obj)

    def has_delete_permission(self, request, obj=None) -> bool:
        if self.opts.auto_created:
            return super().has_delete_permission(request, obj)
        return self._may_under(request, "delete", obj)

    def get_formset(self, request, obj=None, **kwargs):
        formset = scoped_formset(super().get_formset(request, obj, **kwargs))
        formset.form = scoped_form(formset.form, request.user)
        return formset


# --- role grants ----------------------------------------------------------------------------


class RoleGrantForm(ConcurrentEditForm):
    class Meta:
        model = RoleGrant
        fields = (
            "user",
            "group",
            "role",
            "scope",
            "tenant",
            "gateway",
            "product",
            "customer",
            "subscription",
        )


@admin.register(RoleGrant)
class RoleGrantAdmin(ImpModelAdmin):
    form = RoleGrantForm
    change_list_template = "admin/impgateway/rolegrant/change_list.html"
    list_display = ("__str__", "role", "scope", "tenant", "source", "updated")
    list_filter = ("role", "scope", "source", "tenant")
    search_fields = ("user__username", "user__email", "group__name", "tenant__slug", "tenant__name")
    list_select_related = (
        "user",
        "group",
        "tenant",
        "gateway",
        "product",
        "customer",
        "subscription__customer",
        "subscription__product",
    )
    autocomplete_fields = (
        "user",
        "group",
        "tenant",
        "gateway",
        "product",
        "customer",
        "subscription",
    )
    readonly_fields = ("source", "created", "updated")

    def get_urls(self):
        return [
            path(
                "matrix/",
                self.admin_site.admin_view(self.matrix_view),
                name="impgateway_rolegrant_matrix",
            ),
            *super().get_urls(),
        ]

    def matrix_view(self, request: HttpRequest) -> TemplateResponse:
        """The role matrix and the scopes each role is granted at, as rbac.py defines them."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        roles = list(rbac.ROLE_ORDER)
        rows = [
            (
                label,
                [
                    "".join(a[0].upper() for a in rbac.ACTIONS if a in row[role]) or "–"
                    for role in roles
                ],
            )
            for label, row in rbac.MATRIX_BY_MODEL.items()
        ]
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Roles and permissions"),
            "roles": roles,
            "role_scopes": [(role, ROLE_SCOPES[role]) for role in roles],
            "rows": rows,
            "scopes": [scope for scope in Scope.values if scope != Scope.SYSTEM],
        }
        return TemplateResponse(request, "admin/impgateway/rolegrant/matrix.html", context)


# --- the audit trail --------------------------------------------------------------------------


def audit_changes(event: AuditEvent) -> list[tuple[str, object, object]]:
    """(field, before, after) for every field an event changed (all fields of a create or
    delete)."""
    before, after = event.before or {}, event.after or {}
    return [
        (name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]


class AuditedModelFilter(admin.RelatedFieldListFilter):
    """The models that have audit events, by name."""

    def field_choices(self, field, request, model_admin):
        used = AuditEvent.objects.order_by().values("content_type").distinct()
        return [
            (content_type.pk, capfirst(content_type.name))
            for content_type in ContentType.objects.filter(pk__in=used).order_by("app_label")
        ]


class AuditUserFilter(admin.SimpleListFilter):
    title = _("user")
    parameter_name = "username"

    def lookups(self, request, model_admin):
        names = (
            model_admin.get_queryset(request)
            .exclude(username="")
            .order_by("username")
            .values_list("username", flat=True)
            .distinct()[:100]
        )
        return [(name, name) for name in names]

    def queryset(self, request, queryset):
        return queryset.filter(username=self.value()) if self.value() else queryset


@admin.register(AuditEvent)
class AuditEventAdmin(ImpModelAdmin):
    """Read only: events are written by impgateway/audit.py."""

    list_display = ("created", "username", "action", "source", "content_type", "object_link")
    list_filter = (
        AuditUserFilter,
        ("content_type", AuditedModelFilter),
        "action",
        "source",
        "created",
    )
    search_fields = ("object_repr", "username")
    list_select_related = ("content_type",)
    date_hierarchy = "created"
    readonly_fields = (
        "created",
        "username",
        "action",
        "source",
        "content_type",
        "object_id",
        "object_repr",
        "changes",
    )

    def get_fields(self, request, obj=None):
        return self.readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("object"))
    def object_link(self, event: AuditEvent) -> str:
        model = event.content_type.model_class()
        if model is None or event.action == audit.AuditAction.DELETE:
            return event.object_repr
        try:
            url = reverse(
                f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
                args=[event.object_id],
            )
        except NoReverseMatch:
            return event.object_repr
        return format_html('<a href="{}">{}</a>', url, event.object_repr)

    @admin.display(description=_("changes"))
    def changes(self, event: AuditEvent) -> str:
        return format_html(
            "<table><thead><tr><th>{}</th><th>{}</th><th>{}</th></tr></thead><tbody>{}</tbody>"
            "</table>",
            _("field"),
            _("before"),
            _("after"),
            format_html_join(
                "",
                "<tr><td>{}</td><td><code>{}</code></td><td><code>{}</code></td></tr>",
                audit_changes(event),
            ),
        )
