"""Provider API views of the catalog; scoping, ETags and validation live in the base classes."""

from __future__ import annotations

from impgateway.api import ScopedModelViewSet, prefetch_list

from .. import filtersets
from ..models import APIService, Backend, Gateway, Listener, Policy, Product, Route
from . import serializers


class APIServiceViewSet(ScopedModelViewSet):
    queryset = APIService.objects.select_related("tenant").prefetch_related(
        prefetch_list("backends", Backend.objects.order_by("name")),
        prefetch_list("routes", Route.objects.order_by("name")),
        prefetch_list("policies", Policy.objects.order_by("name")),
    )
    serializer_class = serializers.APIServiceSerializer
    filterset_class = filtersets.APIServiceFilterSet
    search_fields = ("name", "description", "tenant__name")
    ordering_fields = ("id", "name", "version", "status", "created", "updated")


class BackendViewSet(ScopedModelViewSet):
    queryset = Backend.objects.all()
    serializer_class = serializers.BackendSerializer
    filterset_class = filtersets.BackendFilterSet
    search_fields = ("name",)
    ordering_fields = ("id", "name", "service", "created", "updated")


class RouteViewSet(ScopedModelViewSet):
    queryset = Route.objects.all()
    serializer_class = serializers.RouteSerializer
    filterset_class = filtersets.RouteFilterSet
    search_fields = ("name", "path")
    ordering_fields = ("id", "name", "path", "service", "created", "updated")


class PolicyViewSet(ScopedModelViewSet):
    queryset = Policy.objects.all()
    serializer_class = serializers.PolicySerializer
    filterset_class = filtersets.PolicyFilterSet
    search_fields = ("name",)
    ordering_fields = ("id", "name", "kind", "service", "created", "updated")


class ProductViewSet(ScopedModelViewSet):
    queryset = Product.objects.select_related("tenant")
    serializer_class = serializers.ProductSerializer
    filterset_class = filtersets.ProductFilterSet
    search_fields = ("name", "slug", "description")
    ordering_fields = ("id", "name", "slug", "version", "created", "updated")


class GatewayViewSet(ScopedModelViewSet):
    queryset = Gateway.objects.select_related("tenant").prefetch_related(
        prefetch_list("listeners", Listener.objects.order_by("port", "name"))
    )
    serializer_class = serializers.GatewaySerializer
    filterset_class = filtersets.GatewayFilterSet
    search_fields = ("name", "description")
    ordering_fields = ("id", "name", "gateway_class", "created", "updated")


class ListenerViewSet(ScopedModelViewSet):
    queryset = Listener.objects.all()
    serializer_class = serializers.ListenerSerializer
    filterset_class = filtersets.ListenerFilterSet
    search_fields = ("name", "hostname")
    ordering_fields = ("id", "name", "port", "gateway", "created", "updated")
