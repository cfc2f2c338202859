"""Operator API views: clusters, their agents (enable, disable) and registration tokens.
Scoping and ETags live in the base classes; the actions call clusters.services."""

from __future__ import annotations

from django.db.models import Count, Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from impgateway.api import ScopedGenericViewSet, ScopedModelViewSet, ScopedReadOnlyModelViewSet

from .. import filtersets, services
from ..choices import AgentStatus
from ..models import Agent, Cluster, RegistrationToken
from . import operator_serializers as serializers


class ClusterViewSet(ScopedModelViewSet):
    queryset = Cluster.objects.annotate(
        agent_total=Count("agents"),
        agent_enabled=Count("agents", filter=Q(agents__enabled=True)),
        agent_connected=Count(
            "agents", filter=Q(agents__enabled=True, agents__status=AgentStatus.CONNECTED)
        ),
    )
    serializer_class = serializers.ClusterSerializer
    filterset_class = filtersets.ClusterFilterSet
    search_fields = ("name", "region", "description")
    ordering_fields = ("id", "name", "region", "cloud_provider", "created", "updated")


class AgentViewSet(ScopedReadOnlyModelViewSet, mixins.DestroyModelMixin):
    queryset = Agent.objects.select_related("cluster")
    serializer_class = serializers.AgentSerializer
    filterset_class = filtersets.AgentFilterSet
    search_fields = ("name", "version", "cluster__name")
    ordering_fields = ("id", "name", "status", "last_seen_at", "created")
    rbac_actions = {"enable": "change", "disable": "change"}

    def delete_object(self, instance: Agent) -> None:
        services.delete_agent(instance, self.request.user)

    def _set_enabled(self, enabled: bool) -> Response:
        agent = self.get_object()
        services.set_agents_enabled([agent.pk], enabled, user=self.request.user)
        agent = self.get_queryset().get(pk=agent.pk)
        self.etag_object = agent
        return Response(self.get_serializer(agent).data)

    @extend_schema(request=None, responses=serializers.AgentSerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, pk=None) -> Response:
        """Let the agent fetch desired state again (it registers or refreshes its token)."""
        return self._set_enabled(True)

    @extend_schema(request=None, responses=serializers.AgentSerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, pk=None) -> Response:
        """Stop the agent: every token it holds stops working at once."""
        return self._set_enabled(False)


class RegistrationTokenViewSet(
    ScopedGenericViewSet,
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    mixins.ListModelMixin,
):
    queryset = RegistrationToken.objects.select_related("created_by")
    serializer_class = serializers.RegistrationTokenSerializer
    filterset_class = filtersets.RegistrationTokenFilterSet
    search_fields = ("description",)
    ordering_fields = ("id", "created", "expires_at", "used_at")

    @extend_schema(responses={201: serializers.NewRegistrationTokenSerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        """Create a one-time token for a cluster; the answer is the only time it is shown."""
        return super().create(request, *args, **kwargs)

    def get_serializer_class(self):
        if self.action == "create":
            return serializers.NewRegistrationTokenSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer) -> None:
        self._check_may_save(self._candidate(serializer), "add")
        # The serializer creates the token through the service, which records the event.
        self.etag_object = serializer.save()
