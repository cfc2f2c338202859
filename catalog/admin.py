"""Admin console pages of the logical layer."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from impgateway import rbac
from impgateway.admin import ConcurrentEditForm, ImpModelAdmin, ImpTabularInline
from publishing import services as publishing

from . import services
from .choices import APIKeyStatus, HTTPMethod, SubscriptionStatus
from .models import (
    APIKey,
    APIService,
    Backend,
    Customer,
    Gateway,
    Listener,
    Policy,
    Product,
    Route,
    Subscription,
    Tenant,
)


@admin.register(Tenant)
class TenantAdmin(ImpModelAdmin):
    list_display = ("name", "slug", "service_count", "product_count", "updated")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                service_total=Count("api_services", distinct=True),
                product_total=Count("products", distinct=True),
            )
        )

    @admin.display(description=_("API services"), ordering="service_total")
    def service_count(self, obj: Tenant) -> int:
        return obj.service_total

    @admin.display(description=_("products"), ordering="product_total")
    def product_count(self, obj: Tenant) -> int:
        return obj.product_total


class RouteForm(ConcurrentEditForm):
    methods = forms.MultipleChoiceField(
        label=_("methods"),
        choices=HTTPMethod.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None checked: any method."),
    )

    class Meta:
        model = Route
        fields = (
            "name",
            "path",
            "match_type",
            "methods",
            "header_matches",
            "backend",
            "rewrite_path_prefix",
            "timeout_seconds",
        )
        widgets = {"header_matches": forms.Textarea(attrs={"rows": 2, "cols": 40})}


class RouteInline(ImpTabularInline):
    model = Route
    form = RouteForm
    extra = 0
    fields = RouteForm.Meta.fields

    def get_formset(self, request, obj=None, **kwargs):
        self._parent_service = obj
        return super().get_formset(request, obj, **kwargs)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "backend":
            parent = getattr(self, "_parent_service", None)
            kwargs["queryset"] = (
                Backend.objects.filter(service=parent) if parent else Backend.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class BackendInline(ImpTabularInline):
    model = Backend
    extra = 0
    fields = (
        "name",
        "endpoints",
        "load_balancing",
        "timeout_seconds",
        "retry_attempts",
        "health_check_path",
        "health_check_interval_seconds",
    )

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "endpoints":
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 36})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


class PolicyInline(ImpTabularInline):
    model = Policy
    extra = 0
    fields = ("name", "kind", "config", "environments", "enabled")

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in ("config", "environments"):
            kwargs["widget"] = forms.Textarea(attrs={"rows": 2, "cols": 40})
        return super().formfield_for_dbfield(db_field, request, **kwargs)


@admin.register(APIService)
class APIServiceAdmin(ImpModelAdmin):
    list_display = (
        "name",
        "tenant",
        "version",
        "protocol",
        "status",
        "route_count",
        "updated",
    )
    list_filter = ("status", "protocol", "tenant")
    search_fields = ("name", "description", "routes__path")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    inlines = (BackendInline, RouteInline, PolicyInline)
    change_form_template = "admin/catalog/apiservice/change_form.html"

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(route_total=Count("routes", distinct=True))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        service = self.get_object(request, object_id)
        if service is not None:
            publishes = rbac.restrict(publishing.publish_queryset(), request.user).filter(
                api_services=service
            )
            extra_context = {
                **(extra_context or {}),
                "used_by": [
                    (publish, publishing.has_unpublished_changes(publish))
                    for publish in publishes.order_by("product__slug", "environment")[:50]
                ],
            }
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("routes"), ordering="route_total")
    def route_count(self, obj: APIService) -> int:
        return obj.route_total


@admin.register(Product)
class ProductAdmin(ImpModelAdmin):
    list_display = ("name", "version", "slug", "tenant", "updated")
    list_filter = ("tenant",)
    search_fields = ("name", "slug", "description")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    prepopulated_fields = {"slug": ("name",)}


class ListenerInline(ImpTabularInline):
    model = Listener
    extra = 0
    fields = ("name", "port", "protocol", "hostname", "tls_mode", "certificate_ref")


@admin.register(Gateway)
class GatewayAdmin(ImpModelAdmin):
    list_display = ("name", "gateway_class", "tenant", "listener_summary", "updated")
    list_filter = ("gateway_class", "tenant")
    search_fields = ("name", "description")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    inlines = (ListenerInline,)

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("listeners")

    @admin.display(description=_("listeners"))
    def listener_summary(self, obj: Gateway) -> str:
        return ", ".join(f"{item.protocol}/{item.port}" for item in obj.listeners.all())


@admin.register(Route)
class RouteAdmin(ImpModelAdmin):
    form = type(
        "RouteAdminForm",
        (RouteForm,),
        {"Meta": type("Meta", (RouteForm.Meta,), {"fields": ("service", *RouteForm.Meta.fields)})},
    )
    list_display = ("name", "service", "path", "match_type", "method_list", "backend")
    list_filter = ("match_type", "service__tenant")
    search_fields = ("name", "path", "service__name")
    list_select_related = ("service", "backend")
    autocomplete_fields = ("service",)

    @admin.display(description=_("methods"))
    def method_list(self, obj: Route) -> str:
        return ", ".join(obj.methods) or _("any")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "backend":
            kwargs["queryset"] = Backend.objects.select_related("service")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Backend)
class BackendAdmin(ImpModelAdmin):
    list_display = ("name", "service", "endpoint_list", "load_balancing", "retry_attempts")
    list_filter = ("load_balancing", "service__tenant")
    search_fields = ("name", "service__name")
    list_select_related = ("service",)
    autocomplete_fields = ("service",)

    @admin.display(description=_("endpoints"))
    def endpoint_list(self, obj: Backend) -> str:
        return ", ".join(obj.endpoints)


@admin.register(Policy)
class PolicyAdmin(ImpModelAdmin):
    list_display = ("name", "service", "kind", "environment_list", "enabled")
    list_filter = ("kind", "enabled", "service__tenant")
    search_fields = ("name", "service__name")
    list_select_related = ("service",)
    autocomplete_fields = ("service",)

    @admin.display(description=_("environments"))
    def environment_list(self, obj: Policy) -> str:
        return ", ".join(obj.environments) or _("all")


@admin.register(Listener)
class ListenerAdmin(ImpModelAdmin):
    list_display = ("name", "gateway", "protocol", "port", "hostname", "tls_mode")
    list_filter = ("protocol", "tls_mode", "gateway__gateway_class")
    search_fields = ("name", "hostname", "gateway__name")
    list_select_related = ("gateway",)
    autocomplete_fields = ("gateway",)


@admin.register(Customer)
class CustomerAdmin(ImpModelAdmin):
    list_display = ("name", "slug", "tenant", "contact_email", "updated")
    list_filter = ("tenant",)
    search_fields = ("name", "slug", "contact_email")
    list_select_related = ("tenant",)
    autocomplete_fields = ("tenant",)
    prepopulated_fields = {"slug": ("name",)}

    # Deleting a customer takes its subscriptions and keys out of the clusters: the service.

    def delete_model(self, request, obj: Customer) -> None:
        services.delete_customer(obj, user=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for customer in queryset:
            services.delete_customer(customer, user=request.user)


def _report(modeladmin, request, obj, exc: Exception) -> None:
    """One object's refusal by its service, as an error message naming the object."""
    reasons = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
    modeladmin.message_user(request, f"{obj}: {'; '.join(reasons)}", messages.ERROR)


@admin.register(Subscription)
class SubscriptionAdmin(ImpModelAdmin):
    """Subscriptions are requested, approved, rejected and cancelled by the services, as in the
    API: the add form requests one (its status follows the product's rule), and the object page
    is read-only with the operations as buttons. Cancel instead of deleting: keys leave the
    clusters."""

    list_display = ("customer", "product", "environment", "status", "decided_at", "updated")
    list_filter = ("status", "environment", "product")
    search_fields = ("customer__name", "product__name")
    list_select_related = ("customer", "product")
    autocomplete_fields = ("customer", "product")
    fields = ("customer", "product", "environment")
    readonly_fields = (
        "customer",
        "product",
        "environment",
        "status",
        "requested_by",
        "decided_by",
        "decided_at",
        "created",
        "updated",
    )
    changed_by_operations_only = True
    actions = ("approve_subscriptions", "reject_subscriptions", "cancel_subscriptions")
    object_actions = {
        "approve_subscriptions": _("Approve"),
        "reject_subscriptions": _("Reject"),
        "cancel_subscriptions": _("Cancel subscription"),
    }

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*self.fields, "seen_updated"]
        return [*self.readonly_fields, "seen_updated"]

    def get_readonly_fields(self, request, obj=None):
        return ("created", "updated") if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def create_object(self, request, form) -> Subscription:
        data = form.cleaned_data
        return services.request_subscription(
            data["customer"], data["product"], data["environment"], user=request.user
        )

    def object_action_applies(self, request, obj: Subscription, action: str) -> bool:
        if action == "cancel_subscriptions":
            return obj.status in services.OPEN_STATUSES
        return obj.status == SubscriptionStatus.PENDING and services.may_decide(request.user, obj)

    def _operate(self, request, queryset, operation) -> int:
        """Run the service on each subscription; how many it changed (refusals are shown)."""
        succeeded = 0
        for subscription in queryset.select_related("customer", "product"):
            try:
                operation(subscription, user=request.user)
            except (ValidationError, PermissionDenied) as exc:
                _report(self, request, subscription, exc)
            else:
                succeeded += 1
        return succeeded

    @admin.action(description=_("Approve selected subscriptions"), permissions=["change"])
    def approve_subscriptions(self, request, queryset) -> None:
        if count := self._operate(request, queryset, services.approve_subscription):
            self.message_user(
                request,
                ngettext(
                    "%(count)d subscription approved.", "%(count)d subscriptions approved.", count
                )
                % {"count": count},
                messages.SUCCESS,
            )

    @admin.action(description=_("Reject selected subscriptions"), permissions=["change"])
    def reject_subscriptions(self, request, queryset) -> None:
        if count := self._operate(request, queryset, services.reject_subscription):
            self.message_user(
                request,
                ngettext(
                    "%(count)d subscription rejected.", "%(count)d subscriptions rejected.", count
                )
                % {"count": count},
                messages.SUCCESS,
            )

    @admin.action(
        description=_("Cancel selected subscriptions (revokes their API keys)"),
        permissions=["change"],
    )
    def cancel_subscriptions(self, request, queryset) -> None:
        if count := self._operate(request, queryset, services.cancel_subscription):
            self.message_user(
                request,
                ngettext(
                    "%(count)d subscription cancelled; its API keys are revoked.",
                    "%(count)d subscriptions cancelled; their API keys are revoked.",
                    count,
                )
                % {"count": count},
                messages.SUCCESS,
            )


@admin.register(APIKey)
class APIKeyAdmin(ImpModelAdmin):
    """Keys are made, rotated and revoked by the services, as in the API; the secret shows once,
    in a message to whoever made or rotated it, and never on any page. Revoke instead of
    deleting: the key leaves the clusters."""

    list_display = (
        "name",
        "prefix",
        "subscription",
        "key_status",
        "created",
        "last_rotated",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("subscription__environment", "subscription__product")
    search_fields = ("name", "prefix", "subscription__customer__name")
    list_select_related = ("subscription__customer", "subscription__product")
    autocomplete_fields = ("subscription",)
    fields = ("subscription", "name", "expires_at")
    readonly_fields = (
        "subscription",
        "name",
        "prefix",
        "key_status",
        "expires_at",
        "created",
        "updated",
        "last_rotated",
        "previous_valid_until",
        "revoked_at",
        "created_by",
    )
    changed_by_operations_only = True
    actions = ("rotate_keys", "revoke_keys")
    object_actions = {"rotate_keys": _("Rotate"), "revoke_keys": _("Revoke")}

    def get_fields(self, request, obj=None):
        if obj is None:
            return [*self.fields, "seen_updated"]
        return [*self.readonly_fields, "seen_updated"]

    def get_readonly_fields(self, request, obj=None):
        return ("created", "updated") if obj is None else self.readonly_fields

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description=_("status"))
    def key_status(self, obj: APIKey) -> str:
        return APIKeyStatus(obj.status_at(timezone.now())).label

    def create_object(self, request, form) -> APIKey:
        data = form.cleaned_data
        issued = services.create_api_key(
            data["subscription"], data["name"], data.get("expires_at"), user=request.user
        )
        self._show_secret(request, issued)
        return issued.key

    def object_action_applies(self, request, obj: APIKey, action: str) -> bool:
        return obj.status_at(timezone.now()) in (APIKeyStatus.ACTIVE, APIKeyStatus.PENDING)

    def _show_secret(self, request, issued: services.IssuedKey) -> None:
        self.message_user(
            request,
            _("API key %(name)s: %(secret)s — copy it now, it is not shown again.")
            % {"name": issued.key.name, "secret": issued.secret},
            messages.WARNING,
        )

    @admin.action(
        description=_("Rotate selected API keys (shows the new secrets once)"), permissions=["add"]
    )
    def rotate_keys(self, request, queryset) -> None:
        for key in queryset:
            try:
                issued = services.rotate_api_key(key, user=request.user)
            except ValidationError as exc:
                _report(self, request, key, exc)
                continue
            self._show_secret(request, issued)

    @admin.action(description=_("Revoke selected API keys"), permissions=["change"])
    def revoke_keys(self, request, queryset) -> None:
        revoked = 0
        for key in queryset.filter(revoked_at__isnull=True):
            services.revoke_api_key(key, user=request.user)
            revoked += 1
        self.message_user(request, _("Revoked %(count)d API keys.") % {"count": revoked})
