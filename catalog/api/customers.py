"""The customer API: the product catalog a customer may see, customers, subscriptions (request,
approve, reject, cancel) and API keys (create, rotate, revoke; the secret is returned once)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import django_filters
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from impgateway.api import ScopedModelViewSet
from publishing.choices import PublishStatus
from publishing.models import ProductPublish

from .. import services
from ..choices import APIKeyStatus, Environment, ListenerProtocol
from ..models import APIKey, Customer, Product, Subscription


@contextmanager
def service_errors() -> Iterator[None]:
    """A service's ValidationError (which names the field) as a 400 response."""
    try:
        yield
    except DjangoValidationError as exc:
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        raise serializers.ValidationError(detail) from None


# --- Product catalog ------------------------------------------------------------------------


class CatalogEnvironmentSerializer(serializers.Serializer):
    environment = serializers.ChoiceField(choices=Environment.choices)
    auth_mode = serializers.CharField()
    base_urls = serializers.ListField(child=serializers.URLField())


class CatalogProductSerializer(serializers.ModelSerializer):
    tenant = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    # A URL, or "" when the product has no documentation: not `format: uri` in the schema.
    documentation_url = serializers.CharField(read_only=True)
    environments = serializers.SerializerMethodField()

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
            "environments",
        )
        read_only_fields = fields

    @extend_schema_field(CatalogEnvironmentSerializer(many=True))
    def get_environments(self, product: Product) -> list[dict]:
        """Where the product is published: per environment, its auth mode and base URLs."""
        wanted = self.context.get("environment")
        found: dict[str, dict] = {}
        for publish in product.published:
            if wanted and publish.environment != wanted:
                continue
            listeners = publish.gateway.listeners.all()
            scheme = (
                "https"
                if any(item.protocol == ListenerProtocol.HTTPS for item in listeners)
                else "http"
            )
            entry = found.setdefault(
                publish.environment,
                {
                    "environment": publish.environment,
                    "auth_mode": publish.auth_mode,
                    "base_urls": [],
                },
            )
            entry["base_urls"].extend(f"{scheme}://{host}" for host in publish.hostnames)
        for entry in found.values():
            entry["base_urls"] = sorted(set(entry["base_urls"]))
        return [found[name] for name in sorted(found)]


class CatalogProductFilterSet(django_filters.FilterSet):
    environment = django_filters.ChoiceFilter(
        choices=Environment.choices,
        method="filter_environment",
        label=_("published in this environment"),
    )
    tenant = django_filters.CharFilter(field_name="tenant__slug")

    class Meta:
        model = Product
        fields = ("slug", "tenant", "requires_approval", "environment")

    def filter_environment(self, queryset, name, value):
        return queryset.filter(
            publishes__status=PublishStatus.PUBLISHED, publishes__environment=value
        ).distinct()


class CatalogProductViewSet(ScopedModelViewSet):
    """The products the caller may see, with where each is published (read-only)."""

    queryset = Product.objects.select_related("tenant").prefetch_related(
        Prefetch(
            "publishes",
            queryset=ProductPublish.objects.filter(status=PublishStatus.PUBLISHED)
            .select_related("cluster", "gateway", "product")
            .prefetch_related("gateway__listeners")
            .order_by("pk"),
            to_attr="published",
        )
    )
    serializer_class = CatalogProductSerializer
    filterset_class = CatalogProductFilterSet
    http_method_names = ["get", "head", "options"]

    def get_serializer_context(self) -> dict:
        context = super().get_serializer_context()
        environment = self.request.query_params.get("environment") if self.request else None
        context["environment"] = environment if environment in Environment.values else None
        return context


# --- Customers ------------------------------------------------------------------------------


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ("id", "tenant", "name", "slug", "contact_email", "created", "updated")
        read_only_fields = ("created", "updated")


class CustomerFilterSet(django_filters.FilterSet):
    class Meta:
        model = Customer
        fields = ("tenant", "slug", "name")


class CustomerViewSet(ScopedModelViewSet):
    """Customer organisations; deleting one takes its subscriptions and keys with it."""

    queryset = Customer.objects.all()
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet

    def delete_object(self, instance: Customer) -> None:
        services.delete_customer(instance, user=self.request.user)


# --- Subscriptions --------------------------------------------------------------------------


class SubscriptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Subscription
        fields = (
            "id",
            "customer",
            "product",
            "environment",
            "status",
            "requested_by",
            "decided_by",
            "decided_at",
            "created",
            "updated",
        )
        read_only_fields = (
            "status",
            "requested_by",
            "decided_by",
            "decided_at",
            "created",
            "updated",
        )
        # The open-subscription rule is the service's to check, with its own message.
        validators: list = []


class SubscriptionFilterSet(django_filters.FilterSet):
    class Meta:
        model = Subscription
        fields = ("customer", "product", "environment", "status")


class SubscriptionViewSet(ScopedModelViewSet):
    """Subscriptions: customers request (create) and cancel; providers approve or reject."""

    queryset = Subscription.objects.all()
    serializer_class = SubscriptionSerializer
    filterset_class = SubscriptionFilterSet
    http_method_names = ["get", "post", "head", "options"]
    rbac_actions = {"approve": "change", "reject": "change", "cancel": "change"}

    def perform_create(self, serializer: SubscriptionSerializer) -> None:
        self._check_may_save(self._candidate(serializer), "add")
        data = serializer.validated_data
        with service_errors():
            serializer.instance = services.request_subscription(
                data["customer"], data["product"], data["environment"], user=self.request.user
            )

    def _decision(self, request: Request, decide) -> Response:
        # The service refuses (PermissionDenied, a 403) whoever does not decide on it.
        with service_errors():
            subscription = decide(self.get_object(), user=request.user)
        return Response(self.get_serializer(subscription).data)

    @extend_schema(request=None, responses=SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk=None) -> Response:
        return self._decision(request, services.approve_subscription)

    @extend_schema(request=None, responses=SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk=None) -> Response:
        return self._decision(request, services.reject_subscription)

    @extend_schema(request=None, responses=SubscriptionSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk=None) -> Response:
        subscription = self.get_object()
        with service_errors():
            subscription = services.cancel_subscription(subscription, user=request.user)
        return Response(self.get_serializer(subscription).data)


# --- API keys -------------------------------------------------------------------------------


class APIKeySerializer(serializers.ModelSerializer):
    """A key as lists show it: never its secret."""

    status = serializers.SerializerMethodField()

    class Meta:
        model = APIKey
        fields = (
            "id",
            "subscription",
            "name",
            "prefix",
            "status",
            "created",
            "last_rotated",
            "expires_at",
            "revoked_at",
            "previous_valid_until",
        )
        read_only_fields = (
            "prefix",
            "status",
            "created",
            "last_rotated",
            "revoked_at",
            "previous_valid_until",
        )

    @extend_schema_field(serializers.ChoiceField(choices=APIKeyStatus.choices))
    def get_status(self, key: APIKey) -> str:
        return key.status_at(self.context.get("now") or timezone.now())

    def validate_expires_at(self, value):
        if value is not None and value <= timezone.now():
            raise serializers.ValidationError(_("Must be in the future."))
        return value


class IssuedAPIKeySerializer(APIKeySerializer):
    """A key just created or rotated, with its secret: the only time it is shown."""

    secret = serializers.SerializerMethodField()

    class Meta(APIKeySerializer.Meta):
        fields = (*APIKeySerializer.Meta.fields, "secret")

    def get_secret(self, key: APIKey) -> str:
        return self.context["secret"]


class APIKeyFilterSet(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="subscription__customer")
    product = django_filters.NumberFilter(field_name="subscription__product")
    revoked = django_filters.BooleanFilter(
        field_name="revoked_at", lookup_expr="isnull", exclude=True
    )

    class Meta:
        model = APIKey
        fields = ("subscription", "customer", "product", "prefix", "revoked")


class APIKeyViewSet(ScopedModelViewSet):
    """API keys of subscriptions: create and rotate return the secret once; revoke ends it."""

    queryset = APIKey.objects.select_related("subscription")
    serializer_class = APIKeySerializer
    filterset_class = APIKeyFilterSet
    http_method_names = ["get", "post", "head", "options"]
    # Rotation hands out a secret, like creation: providers (view and change) cannot.
    rbac_actions = {"rotate": "add", "revoke": "change"}

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _issued(self, issued: services.IssuedKey, code: int) -> Response:
        context = {**self.get_serializer_context(), "secret": issued.secret}
        response = Response(IssuedAPIKeySerializer(issued.key, context=context).data, status=code)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(responses={201: IssuedAPIKeySerializer})
    def create(self, request: Request, *args, **kwargs) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        self._check_may_save(self._candidate(serializer), "add")
        data = serializer.validated_data
        with service_errors():
            issued = services.create_api_key(
                data["subscription"], data["name"], data.get("expires_at"), user=request.user
            )
        return self._issued(issued, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=IssuedAPIKeySerializer)
    @action(detail=True, methods=["post"])
    def rotate(self, request: Request, pk=None) -> Response:
        with service_errors():
            issued = services.rotate_api_key(self.get_object(), user=request.user)
        return self._issued(issued, status.HTTP_200_OK)

    @extend_schema(request=None, responses=APIKeySerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk=None) -> Response:
        with service_errors():
            key = services.revoke_api_key(self.get_object(), user=request.user)
        return Response(self.get_serializer(key).data)
