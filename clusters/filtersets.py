"""Filters of the operator API lists: clusters, agents and registration tokens."""

from __future__ import annotations

import django_filters
from django.db.models import QuerySet
from django.utils import timezone

from impgateway.api import BaseFilterSet, IdFilter

from .choices import AgentStatus, CloudProvider
from .models import Agent, Cluster, RegistrationToken


class ClusterFilterSet(BaseFilterSet):
    name = django_filters.CharFilter()
    region = django_filters.CharFilter()
    cloud_provider = django_filters.MultipleChoiceFilter(choices=CloudProvider.choices)
    gateway_class = django_filters.CharFilter(
        method="filter_gateway_class", label="Reports this gateway class installed"
    )

    class Meta:
        model = Cluster
        fields = ("id", "name", "region", "cloud_provider", "gateway_class")

    def filter_gateway_class(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        matching = [
            pk
            for pk, capabilities in queryset.values_list("pk", "capabilities")
            if isinstance(capabilities, dict)
            and value in (capabilities.get("gateway_classes") or [])
        ]
        return queryset.filter(pk__in=matching)


class AgentFilterSet(BaseFilterSet):
    cluster = IdFilter(field_name="cluster_id")
    cluster_name = django_filters.CharFilter(field_name="cluster__name")
    name = django_filters.CharFilter()
    status = django_filters.ChoiceFilter(choices=AgentStatus.choices)

    class Meta:
        model = Agent
        fields = ("id", "cluster", "cluster_name", "name", "status", "enabled", "version")


class RegistrationTokenFilterSet(BaseFilterSet):
    cluster = IdFilter(field_name="cluster_id")
    used = django_filters.BooleanFilter(field_name="used_at", lookup_expr="isnull", exclude=True)
    expired = django_filters.BooleanFilter(method="filter_expired")

    class Meta:
        model = RegistrationToken
        fields = ("id", "cluster", "used", "expired")

    def filter_expired(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        now = timezone.now()
        if value:
            return queryset.filter(expires_at__lte=now)
        return queryset.filter(expires_at__gt=now)
