"""Admin console pages of the physical layer: clusters with their agents, deployment status
and registration tokens; agents (enable, disable); registration tokens (create, shown once)."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin
from django.db.models import Count, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from impgateway.admin import ConcurrentEditForm, ImpModelAdmin, ImpTabularInline
from publishing.models import DeploymentStatus, ProductPublish

from .choices import AgentStatus
from .models import Agent, Cluster, RegistrationToken
from .services import create_registration_token, delete_agent, set_agents_enabled


class AgentInline(ImpTabularInline):
    model = Agent
    extra = 0
    fields = ("name", "status", "enabled", "version", "last_seen_at")
    readonly_fields = ("name", "status", "enabled", "version", "last_seen_at")
    can_delete = True
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        # Agents come into being by registering with a token, not by hand.
        return False


class DeploymentStatusInline(ImpTabularInline):
    """What the cluster's agents last reported, per publish (read only)."""

    model = DeploymentStatus
    extra = 0
    fields = (
        "publish_ref",
        "publish",
        "state",
        "applied_revision",
        "object_counts",
        "problems",
        "reported_at",
    )
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = _("deployment status (reported by the agents)")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("publish__product", "publish__cluster")

    @admin.display(description=_("objects"))
    def object_counts(self, obj: DeploymentStatus) -> str:
        summary = obj.objects_summary or {}
        parts = [
            f"{category} {len(summary.get(category) or [])}"
            for category in ("created", "configured", "unchanged", "pruned", "failed")
            if summary.get(category)
        ]
        return ", ".join(parts) or "-"

    @admin.display(description=_("conditions, errors and drift"))
    def problems(self, obj: DeploymentStatus) -> str:
        lines = [
            f"{condition['object']}: {condition['type']}={condition['status']}"
            + (f" ({condition['reason']})" if condition.get("reason") else "")
            for condition in obj.conditions or []
            if condition.get("status") != "True"
        ]
        lines += [str(error) for error in obj.errors or []]
        lines += [
            f"drift {event['object']} at {event['detected_at']}"
            for event in (obj.drift_events or [])[-5:]
        ]
        return "; ".join(lines) or "-"


class RegistrationTokenInline(ImpTabularInline):
    model = RegistrationToken
    extra = 0
    fields = ("description", "created", "expires_at", "used_at", "agent")
    readonly_fields = fields
    can_delete = True
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        # Created on their own page, which shows the secret once.
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("agent")


class PublishInline(ImpTabularInline):
    """The publishes targeting the cluster (read only; they move on their own page)."""

    model = ProductPublish
    fk_name = "cluster"
    extra = 0
    fields = ("publish_link", "environment", "auth_mode", "status", "revision")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = _("publishes targeting this cluster")

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("product", "current_revision")

    @admin.display(description=_("publish"))
    def publish_link(self, obj: ProductPublish) -> str:
        url = reverse("admin:publishing_productpublish_change", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, obj)

    @admin.display(description=_("revision"))
    def revision(self, obj: ProductPublish) -> str:
        return f"r{obj.current_revision.number}" if obj.current_revision else "-"


@admin.register(Cluster)
class ClusterAdmin(ImpModelAdmin):
    list_display = (
        "name",
        "region",
        "cloud_provider",
        "namespace",
        "agents_connected",
        "desired_state_revision",
        "capabilities_updated_at",
    )
    list_filter = ("cloud_provider", "region")
    search_fields = ("name", "region", "description")
    readonly_fields = (
        "desired_state_revision",
        "capability_summary",
        "capabilities_updated_at",
        "new_registration_token",
        "created",
        "updated",
    )
    exclude = ("capabilities",)
    inlines = (AgentInline, PublishInline, DeploymentStatusInline, RegistrationTokenInline)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                connected_total=Count(
                    "agents", filter=Q(agents__status=AgentStatus.CONNECTED), distinct=True
                ),
                agent_total=Count("agents", distinct=True),
            )
        )

    @admin.display(description=_("agents connected"), ordering="connected_total")
    def agents_connected(self, obj: Cluster) -> str:
        return f"{obj.connected_total}/{obj.agent_total}"

    @admin.display(description=_("capabilities"))
    def capability_summary(self, obj: Cluster) -> str:
        capabilities = obj.capabilities or {}
        if not capabilities:
            return _("None reported yet: an agent reports them when it registers.")
        classes = capabilities.get("gateway_classes") or []
        crds = sorted(capabilities.get("crds") or [])
        return format_html(
            "<div>{}: <code>{}</code></div><div>{}: {}</div>"
            "<details><summary>{}</summary>{}</details>",
            _("Kubernetes"),
            capabilities.get("kubernetes_version", "-"),
            _("gateway classes"),
            format_html_join(" ", '<span class="state state-connected">{}</span>',
                             ((name,) for name in classes)) or "-",
            _("%(count)d custom resource kinds") % {"count": len(crds)},
            format_html_join("", "<div><code>{}</code></div>", ((crd,) for crd in crds)),
        )

    @admin.display(description=_("register an agent"))
    def new_registration_token(self, obj: Cluster) -> str:
        if obj.pk is None:
            return "-"
        url = reverse("admin:clusters_registrationtoken_add") + f"?cluster={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Create a registration token"))


@admin.register(Agent)
class AgentAdmin(ImpModelAdmin):
    list_display = ("name", "cluster", "status", "enabled", "version", "last_seen_at")
    list_filter = ("status", "enabled", "cluster")
    search_fields = ("name", "cluster__name", "version")
    list_select_related = ("cluster",)
    readonly_fields = (
        "cluster",
        "name",
        "status",
        "enabled",
        "version",
        "last_seen_at",
        "token_generation",
        "created",
        "updated",
    )
    changed_by_operations_only = True
    actions = ("disable_agents", "enable_agents")
    object_actions = {"disable_agents": _("Disable"), "enable_agents": _("Enable")}

    def has_add_permission(self, request) -> bool:
        return False

    def delete_model(self, request, obj: Agent) -> None:
        delete_agent(obj, user=request.user)

    def delete_queryset(self, request, queryset) -> None:
        for agent in queryset:
            delete_agent(agent, user=request.user)

    def object_action_applies(self, request, obj: Agent, action: str) -> bool:
        return obj.enabled == (action == "disable_agents")

    @admin.action(description=_("Disable the selected agents (revokes their tokens at once)"))
    def disable_agents(self, request, queryset) -> None:
        count = set_agents_enabled(
            queryset.values_list("pk", flat=True), enabled=False, user=request.user
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d agent disabled; its tokens no longer work.",
                "%(count)d agents disabled; their tokens no longer work.",
                count,
            )
            % {"count": count},
        )

    @admin.action(description=_("Enable the selected agents (they register again)"))
    def enable_agents(self, request, queryset) -> None:
        count = set_agents_enabled(
            queryset.values_list("pk", flat=True), enabled=True, user=request.user
        )
        self.message_user(
            request,
            ngettext(
                "%(count)d agent enabled; it needs a new registration token.",
                "%(count)d agents enabled; they need new registration tokens.",
                count,
            )
            % {"count": count},
        )


TTL_CHOICES = [
    (str(15 * 60), _("15 minutes")),
    (str(3600), _("1 hour")),
    (str(24 * 3600), _("24 hours")),
    (str(7 * 24 * 3600), _("7 days")),
]


class RegistrationTokenForm(ConcurrentEditForm):
    ttl = forms.TypedChoiceField(
        label=_("valid for"), choices=TTL_CHOICES, coerce=int, initial=str(3600)
    )

    class Meta:
        model = RegistrationToken
        fields = ("cluster", "description")


@admin.register(RegistrationToken)
class RegistrationTokenAdmin(ImpModelAdmin):
    """Tokens are made by the service (the secret shows once, on the page that follows) and
    used up by the agent that registers with one."""

    form = RegistrationTokenForm
    changed_by_operations_only = True
    list_display = ("__str__", "cluster", "description", "created", "expires_at", "state", "agent")
    list_filter = ("cluster",)
    search_fields = ("cluster__name", "description", "agent__name")
    list_select_related = ("cluster", "agent")
    readonly_fields = (
        "cluster",
        "description",
        "created",
        "created_by",
        "expires_at",
        "used_at",
        "agent",
    )

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["cluster", "ttl", "description", "seen_updated"]
        return [*self.readonly_fields, "seen_updated"]

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    @admin.display(description=_("state"))
    def state(self, obj: RegistrationToken) -> str:
        if obj.used_at:
            return _("used")
        if obj.expires_at <= timezone.now():
            return _("expired")
        return _("unused")

    def create_object(self, request, form) -> RegistrationToken:
        token, secret = create_registration_token(
            form.cleaned_data["cluster"],
            ttl=timedelta(seconds=form.cleaned_data["ttl"]),
            user=request.user,
            description=form.cleaned_data.get("description", ""),
        )
        # Only this response shows the secret; it is never stored.
        request._new_registration_secret = secret
        return token

    def response_add(self, request, obj, post_url_continue=None):
        secret = getattr(request, "_new_registration_secret", None)
        if secret is None:
            return super().response_add(request, obj, post_url_continue)
        server = request.build_absolute_uri("/").rstrip("/")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": _("Registration token created"),
            "token": obj,
            "cluster": obj.cluster,
            "secret": secret,
            "command": agent_command(server, secret),
            "manifest": registration_secret_manifest(secret),
            "cluster_url": reverse("admin:clusters_cluster_change", args=[obj.cluster_id]),
        }
        return TemplateResponse(
            request, "admin/clusters/registrationtoken/created.html", context
        )


AGENT_NAMESPACE = "imp-gateway-system"


def agent_command(server: str, secret: str) -> str:
    """The command that runs an agent beside the cluster with the new token (docs/agent.md)."""
    return (
        "DJANGO_SETTINGS_MODULE=agent.settings python manage.py agent \\\n"
        f"    --server {server} --registration-token {secret} \\\n"
        f"    --namespace {AGENT_NAMESPACE} --token-file /var/lib/imp-gateway/token.json"
    )


def registration_secret_manifest(secret: str) -> str:
    """The Secret the agent StatefulSet of docs/agent.md reads its registration token from
    (one key per pod, named after the pod)."""
    return (
        "apiVersion: v1\n"
        "kind: Secret\n"
        "metadata:\n"
        "  name: imp-gateway-agent-registration\n"
        f"  namespace: {AGENT_NAMESPACE}\n"
        "type: Opaque\n"
        "stringData:\n"
        f"  imp-gateway-agent-0: {secret}\n"
    )
