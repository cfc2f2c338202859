"""Admin console pages of the physical layer."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _

from impgateway.admin import ImpModelAdmin

from .choices import AgentStatus
from .models import Agent, Cluster


class AgentInline(admin.TabularInline):
    model = Agent
    extra = 0
    fields = ("name", "status", "enabled", "version", "last_seen_at")
    readonly_fields = ("name", "status", "version", "last_seen_at")
    can_delete = True
    show_change_link = True

    def has_add_permission(self, request, obj=None) -> bool:
        # Agents come into being by registering with a token, not by hand.
        return False


@admin.register(Cluster)
class ClusterAdmin(ImpModelAdmin):
    list_display = (
        "name",
        "region",
        "cloud_provider",
        "namespace",
        "agents_connected",
        "capabilities_updated_at",
    )
    list_filter = ("cloud_provider", "region")
    search_fields = ("name", "region", "description")
    readonly_fields = ("capabilities", "capabilities_updated_at", "created", "updated")
    inlines = (AgentInline,)

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


@admin.register(Agent)
class AgentAdmin(ImpModelAdmin):
    list_display = ("name", "cluster", "status", "enabled", "version", "last_seen_at")
    list_filter = ("status", "enabled", "cluster")
    search_fields = ("name", "cluster__name", "version")
    list_select_related = ("cluster",)
    readonly_fields = ("cluster", "name", "status", "version", "last_seen_at", "created", "updated")

    def has_add_permission(self, request) -> bool:
        return False
