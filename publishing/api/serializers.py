"""Serializers of the provider API for publishing: publishes, their revisions, deployment
statuses and the bodies of the publish actions."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from catalog.models import APIService
from clusters.models import Cluster
from impgateway.api import ValidatedModelSerializer

from ..models import DeploymentStatus, ProductPublish, PublishRevision


class ProductPublishSerializer(ValidatedModelSerializer):
    """A publish. Its status and current revision change only through the actions (publish,
    withdraw, rollback); its cluster only through move."""

    api_services = serializers.PrimaryKeyRelatedField(
        many=True, queryset=APIService.objects.all(), allow_empty=False
    )
    oauth2_audiences = serializers.ListField(child=serializers.CharField(), required=False)
    hostnames = serializers.ListField(child=serializers.CharField(), read_only=True)
    current_revision = serializers.IntegerField(
        source="current_revision.number", read_only=True, allow_null=True
    )

    class Meta:
        model = ProductPublish
        fields = (
            "id",
            "tenant",
            "product",
            "api_services",
            "gateway",
            "cluster",
            "environment",
            "auth_mode",
            "status",
            "oauth2_issuer",
            "oauth2_jwks_uri",
            "oauth2_audiences",
            "hostnames",
            "current_revision",
            "created",
            "updated",
        )
        read_only_fields = ("status", "created", "updated")

    def validate_product(self, product):
        if self.instance is not None and product.pk != self.instance.product_id:
            raise serializers.ValidationError(
                _("A publish is of one product: create a publish for the other product.")
            )
        return product

    def validate_cluster(self, cluster: Cluster) -> Cluster:
        if self.instance is not None and cluster.pk != self.instance.cluster_id:
            raise serializers.ValidationError(
                _("Use the move action to point a publish at another cluster.")
            )
        return cluster

    def clean_related(self, candidate: ProductPublish, attrs: dict) -> None:
        if "api_services" in attrs:
            candidate.clean_api_services(attrs["api_services"])


class PublishRevisionSerializer(serializers.ModelSerializer):
    created_by = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )

    class Meta:
        model = PublishRevision
        fields = (
            "id",
            "publish",
            "number",
            "content_hash",
            "action",
            "rolled_back_from",
            "created_by",
            "created",
        )
        read_only_fields = fields


class DeploymentStatusSerializer(serializers.ModelSerializer):
    cluster_name = serializers.CharField(source="cluster.name", read_only=True)
    objects_summary = serializers.DictField(read_only=True)
    conditions = serializers.ListField(child=serializers.DictField(), read_only=True)
    errors = serializers.ListField(child=serializers.CharField(), read_only=True)
    drift_events = serializers.ListField(child=serializers.DictField(), read_only=True)

    class Meta:
        model = DeploymentStatus
        fields = (
            "id",
            "cluster",
            "cluster_name",
            "state",
            "applied_revision",
            "objects_summary",
            "conditions",
            "errors",
            "drift_events",
            "reported_at",
            "updated",
        )
        read_only_fields = fields


class RollbackSerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1, help_text=_("The revision to publish again."))


class MoveSerializer(serializers.Serializer):
    cluster = serializers.PrimaryKeyRelatedField(
        queryset=Cluster.objects.all(), help_text=_("The cluster to publish on instead.")
    )


class PublishDiffSerializer(serializers.Serializer):
    has_unpublished_changes = serializers.BooleanField()
    diff = serializers.CharField(
        allow_blank=True,
        help_text=_("Unified diff of the current revision against the live definitions."),
    )


class ManifestQuerySerializer(serializers.Serializer):
    revision = serializers.IntegerField(min_value=1, required=False)
