"""Filters of the publishing API lists: publishes, their revisions and deployment statuses."""

from __future__ import annotations

import django_filters

from catalog.choices import Environment
from impgateway.api import BaseFilterSet, IdFilter

from .choices import AuthMode, DeploymentState, PublishStatus, RevisionAction
from .models import DeploymentStatus, ProductPublish, PublishRevision


class ProductPublishFilterSet(BaseFilterSet):
    tenant = IdFilter(field_name="tenant_id")
    tenant_slug = django_filters.CharFilter(field_name="tenant__slug")
    product = IdFilter(field_name="product_id")
    product_slug = django_filters.CharFilter(field_name="product__slug")
    gateway = IdFilter(field_name="gateway_id")
    cluster = IdFilter(field_name="cluster_id")
    cluster_name = django_filters.CharFilter(field_name="cluster__name")
    api_service = IdFilter(field_name="api_services", distinct=True)
    environment = django_filters.MultipleChoiceFilter(choices=Environment.choices)
    status = django_filters.MultipleChoiceFilter(choices=PublishStatus.choices)
    auth_mode = django_filters.ChoiceFilter(choices=AuthMode.choices)

    class Meta:
        model = ProductPublish
        fields = (
            "id",
            "tenant",
            "tenant_slug",
            "product",
            "product_slug",
            "gateway",
            "cluster",
            "cluster_name",
            "api_service",
            "environment",
            "status",
            "auth_mode",
        )


class PublishRevisionFilterSet(BaseFilterSet):
    number = IdFilter()
    action = django_filters.ChoiceFilter(choices=RevisionAction.choices)

    class Meta:
        model = PublishRevision
        fields = ("number", "action")


class DeploymentStatusFilterSet(BaseFilterSet):
    cluster = IdFilter(field_name="cluster_id")
    state = django_filters.MultipleChoiceFilter(choices=DeploymentState.choices)

    class Meta:
        model = DeploymentStatus
        fields = ("cluster", "state")
