"""Serializers of the provider API for the catalog: API services and their routes, backends and
policies, products, and gateway templates with their listeners."""

from __future__ import annotations

from rest_framework import serializers

from impgateway.api import PrefetchedListSerializer, ValidatedModelSerializer

from ..choices import Environment, HeaderMatchType, HTTPMethod, TLSMode
from ..models import APIService, Backend, Gateway, Listener, Policy, Product, Route


class HeaderMatchSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField()
    type = serializers.ChoiceField(choices=HeaderMatchType.choices, required=False)


class BackendBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Backend
        fields = ("id", "name")
        read_only_fields = fields
        list_serializer_class = PrefetchedListSerializer


class RouteBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Route
        fields = ("id", "name", "path")
        read_only_fields = fields
        list_serializer_class = PrefetchedListSerializer


class PolicyBriefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Policy
        fields = ("id", "name", "kind")
        read_only_fields = fields
        list_serializer_class = PrefetchedListSerializer


class APIServiceSerializer(ValidatedModelSerializer):
    """An API service, with its backends, routes and policies listed (each edited at its own
    endpoint, filtered by `service`)."""

    backends = BackendBriefSerializer(many=True, read_only=True)
    routes = RouteBriefSerializer(many=True, read_only=True)
    policies = PolicyBriefSerializer(many=True, read_only=True)

    class Meta:
        model = APIService
        fields = (
            "id",
            "tenant",
            "name",
            "version",
            "status",
            "protocol",
            "description",
            "backends",
            "routes",
            "policies",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")


class BackendSerializer(ValidatedModelSerializer):
    endpoints = serializers.ListField(
        child=serializers.CharField(),
        allow_empty=False,
        help_text=Backend._meta.get_field("endpoints").help_text,
    )

    class Meta:
        model = Backend
        fields = (
            "id",
            "service",
            "name",
            "endpoints",
            "load_balancing",
            "timeout_seconds",
            "retry_attempts",
            "health_check_path",
            "health_check_interval_seconds",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")


class RouteSerializer(ValidatedModelSerializer):
    methods = serializers.ListField(
        child=serializers.ChoiceField(choices=HTTPMethod.choices),
        required=False,
        help_text=Route._meta.get_field("methods").help_text,
    )
    header_matches = HeaderMatchSerializer(many=True, required=False)

    class Meta:
        model = Route
        fields = (
            "id",
            "service",
            "name",
            "path",
            "match_type",
            "methods",
            "header_matches",
            "backend",
            "rewrite_path_prefix",
            "timeout_seconds",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")

    def validate(self, attrs: dict) -> dict:
        if "header_matches" in attrs:
            attrs["header_matches"] = [dict(match) for match in attrs["header_matches"]]
        return super().validate(attrs)

    def create(self, validated_data: dict) -> Route:
        return Route.objects.create(**validated_data)

    def update(self, instance: Route, validated_data: dict) -> Route:
        for name, value in validated_data.items():
            setattr(instance, name, value)
        instance.save()
        return instance


class PolicySerializer(ValidatedModelSerializer):
    config = serializers.DictField(help_text=Policy._meta.get_field("config").help_text)
    environments = serializers.ListField(
        child=serializers.ChoiceField(choices=Environment.choices),
        required=False,
        help_text=Policy._meta.get_field("environments").help_text,
    )

    class Meta:
        model = Policy
        fields = (
            "id",
            "service",
            "name",
            "kind",
            "config",
            "environments",
            "enabled",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")


class ProductSerializer(ValidatedModelSerializer):
    categories = serializers.ListField(child=serializers.CharField(), required=False)
    tags = serializers.ListField(child=serializers.CharField(), required=False)

    class Meta:
        model = Product
        fields = (
            "id",
            "tenant",
            "name",
            "slug",
            "version",
            "description",
            "categories",
            "tags",
            "documentation_url",
            "requires_approval",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")


class ListenerSerializer(ValidatedModelSerializer):
    class Meta:
        model = Listener
        fields = (
            "id",
            "gateway",
            "name",
            "port",
            "protocol",
            "hostname",
            "tls_mode",
            "certificate_ref",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")


class GatewayListenerSerializer(serializers.ModelSerializer):
    tls_mode = serializers.ChoiceField(choices=TLSMode.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Listener
        fields = ("id", "name", "port", "protocol", "hostname", "tls_mode", "certificate_ref")
        read_only_fields = fields
        list_serializer_class = PrefetchedListSerializer


class GatewaySerializer(ValidatedModelSerializer):
    """A gateway template with its listeners (each edited at /listeners/, by `gateway`)."""

    labels = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    listeners = GatewayListenerSerializer(many=True, read_only=True)

    class Meta:
        model = Gateway
        fields = (
            "id",
            "tenant",
            "name",
            "gateway_class",
            "labels",
            "description",
            "listeners",
            "created",
            "updated",
        )
        read_only_fields = ("created", "updated")
