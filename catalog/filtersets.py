"""Filters of the catalog's API lists: one FilterSet per model, with an explicit field list."""

from __future__ import annotations

import django_filters
from django.db import connection
from django.db.models import QuerySet

from impgateway.api import BaseFilterSet, IdFilter

from .choices import (
    APIServiceProtocol,
    APIServiceStatus,
    Environment,
    GatewayClass,
    ListenerProtocol,
    LoadBalancing,
    PathMatchType,
    PolicyKind,
)
from .models import APIService, Backend, Gateway, Listener, Policy, Product, Route


def filter_json_list(queryset: QuerySet, field: str, value: str) -> QuerySet:
    """Rows whose JSON list `field` holds the string `value`. PostgreSQL answers with the
    indexed `@>` operator; SQLite, which has no JSON containment, by reading the lists."""
    if connection.features.supports_json_field_contains:
        return queryset.filter(**{f"{field}__contains": [value]})
    matching = [pk for pk, items in queryset.values_list("pk", field) if value in (items or [])]
    return queryset.filter(pk__in=matching)


class APIServiceFilterSet(BaseFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    tenant_slug = django_filters.CharFilter(field_name="tenant__slug")
    name = django_filters.CharFilter()
    status = django_filters.MultipleChoiceFilter(choices=APIServiceStatus.choices)
    protocol = django_filters.ChoiceFilter(choices=APIServiceProtocol.choices)

    class Meta:
        model = APIService
        fields = ("id", "tenant", "tenant_slug", "name", "version", "status", "protocol")


class BackendFilterSet(BaseFilterSet):
    service = IdFilter(field_name="service_id")
    tenant = IdFilter(field_name="service__tenant_id")
    name = django_filters.CharFilter()
    load_balancing = django_filters.ChoiceFilter(choices=LoadBalancing.choices)

    class Meta:
        model = Backend
        fields = ("id", "service", "tenant", "name", "load_balancing")


class RouteFilterSet(BaseFilterSet):
    service = IdFilter(field_name="service_id")
    tenant = IdFilter(field_name="service__tenant_id")
    backend = IdFilter(field_name="backend_id")
    name = django_filters.CharFilter()
    match_type = django_filters.ChoiceFilter(choices=PathMatchType.choices)

    class Meta:
        model = Route
        fields = ("id", "service", "tenant", "backend", "name", "match_type")


class PolicyFilterSet(BaseFilterSet):
    service = IdFilter(field_name="service_id")
    tenant = IdFilter(field_name="service__tenant_id")
    name = django_filters.CharFilter()
    kind = django_filters.ChoiceFilter(choices=PolicyKind.choices)
    environment = django_filters.ChoiceFilter(
        choices=Environment.choices,
        method="filter_environment",
        label="Applies to this environment (no environment list: all)",
    )

    class Meta:
        model = Policy
        fields = ("id", "service", "tenant", "name", "kind", "enabled", "environment")

    def filter_environment(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        limited = filter_json_list(queryset, "environments", value)
        return queryset.filter(environments=[]) | limited


class ProductFilterSet(BaseFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    tenant_slug = django_filters.CharFilter(field_name="tenant__slug")
    name = django_filters.CharFilter()
    slug = django_filters.CharFilter()
    tag = django_filters.CharFilter(method="filter_tag", label="Has this tag")
    category = django_filters.CharFilter(method="filter_category", label="In this category")

    class Meta:
        model = Product
        fields = ("id", "tenant", "tenant_slug", "name", "slug", "version", "requires_approval")

    def filter_tag(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return filter_json_list(queryset, "tags", value)

    def filter_category(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return filter_json_list(queryset, "categories", value)


class GatewayFilterSet(BaseFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    tenant_slug = django_filters.CharFilter(field_name="tenant__slug")
    name = django_filters.CharFilter()
    gateway_class = django_filters.MultipleChoiceFilter(choices=GatewayClass.choices)

    class Meta:
        model = Gateway
        fields = ("id", "tenant", "tenant_slug", "name", "gateway_class")


class ListenerFilterSet(BaseFilterSet):
    gateway = IdFilter(field_name="gateway_id")
    tenant = IdFilter(field_name="gateway__tenant_id")
    name = django_filters.CharFilter()
    protocol = django_filters.ChoiceFilter(choices=ListenerProtocol.choices)

    class Meta:
        model = Listener
        fields = ("id", "gateway", "tenant", "name", "protocol", "port")
