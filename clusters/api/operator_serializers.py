"""Serializers of the operator API: clusters with their agents' summary, agents, and
registration tokens (the secret appears once, in the answer to creating one)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from impgateway.api import ValidatedModelSerializer

from .. import services
from ..choices import AgentStatus
from ..models import Agent, Cluster, RegistrationToken


class AgentSummarySerializer(serializers.Serializer):
    total = serializers.IntegerField()
    enabled = serializers.IntegerField()
    connected = serializers.IntegerField()


class ClusterSerializer(ValidatedModelSerializer):
    """A cluster; capabilities and the desired-state revision are what its agents report and
    what the control plane counts, so they are read-only here."""

    capabilities = serializers.DictField(read_only=True)
    agents = serializers.SerializerMethodField()

    class Meta:
        model = Cluster
        fields = (
            "id",
            "name",
            "region",
            "cloud_provider",
            "namespace",
            "certificate_namespaces",
            "description",
            "capabilities",
            "capabilities_updated_at",
            "desired_state_revision",
            "agents",
            "created",
            "updated",
        )
        read_only_fields = (
            "capabilities_updated_at",
            "desired_state_revision",
            "created",
            "updated",
        )

    @extend_schema_field(AgentSummarySerializer)
    def get_agents(self, cluster: Cluster) -> dict:
        if hasattr(cluster, "agent_total"):
            return {
                "total": cluster.agent_total,
                "enabled": cluster.agent_enabled,
                "connected": cluster.agent_connected,
            }
        agents = list(cluster.agents.values_list("enabled", "status"))
        return {
            "total": len(agents),
            "enabled": sum(1 for enabled, _status in agents if enabled),
            "connected": sum(
                1 for enabled, status in agents if enabled and status == AgentStatus.CONNECTED
            ),
        }


class AgentSerializer(serializers.ModelSerializer):
    cluster_name = serializers.CharField(source="cluster.name", read_only=True)

    class Meta:
        model = Agent
        fields = (
            "id",
            "cluster",
            "cluster_name",
            "name",
            "status",
            "enabled",
            "version",
            "last_seen_at",
            "created",
            "updated",
        )
        read_only_fields = fields


class RegistrationTokenSerializer(serializers.ModelSerializer):
    """A registration token as listed: never its secret, only a fingerprint (the first
    characters of the secret's SHA-256), its expiry and whether an agent used it."""

    ttl_seconds = serializers.IntegerField(
        write_only=True,
        required=False,
        min_value=60,
        max_value=30 * 24 * 3600,
        help_text=_("Lifetime in seconds; AGENT_REGISTRATION_TOKEN_TTL when left out."),
    )
    fingerprint = serializers.SerializerMethodField()
    used = serializers.SerializerMethodField()
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = RegistrationToken
        fields = (
            "id",
            "cluster",
            "description",
            "ttl_seconds",
            "fingerprint",
            "expires_at",
            "used",
            "used_at",
            "agent",
            "created_by",
            "created",
        )
        read_only_fields = ("expires_at", "used_at", "agent", "created")

    def get_fingerprint(self, token: RegistrationToken) -> str:
        return token.token_hash[:12]

    def get_used(self, token: RegistrationToken) -> bool:
        return token.used_at is not None

    def create(self, validated_data: dict) -> RegistrationToken:
        seconds = validated_data.get("ttl_seconds", settings.AGENT_REGISTRATION_TOKEN_TTL)
        token, secret = services.create_registration_token(
            validated_data["cluster"],
            ttl=timedelta(seconds=seconds),
            user=self.context["request"].user,
            description=validated_data.get("description", ""),
        )
        token.secret = secret
        return token


class NewRegistrationTokenSerializer(RegistrationTokenSerializer):
    """The answer to creating a token: the only time its secret is shown."""

    token = serializers.CharField(
        source="secret",
        read_only=True,
        help_text=_("The one-time secret for the agent; it is not stored and not shown again."),
    )

    class Meta(RegistrationTokenSerializer.Meta):
        fields = (*RegistrationTokenSerializer.Meta.fields, "token")
