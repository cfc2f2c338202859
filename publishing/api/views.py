"""Provider API views of publishing: publishes and the release actions on them (publish,
withdraw, rollback, move), their revisions, rendered manifests, diff and deployment status.
The actions call publishing.services; scoping and ETags live in the base class."""

from __future__ import annotations

import json

import django_filters
import yaml
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, renderers
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from impgateway.api import ScopedModelViewSet, service_call

from .. import filtersets, services
from ..models import DeploymentStatus, ProductPublish, PublishRevision
from ..translation import TranslationError
from . import serializers


def filter_parameters(filterset_class) -> list[OpenApiParameter]:
    """Query parameters of a FilterSet applied inside an action (the view's own FilterSet
    describes the view's model)."""
    parameters = []
    for name, field in filterset_class.base_filters.items():
        choices = getattr(field, "extra", {}).get("choices")
        kind = int if isinstance(field, django_filters.NumberFilter) else str
        enum = [value for value, _label in choices] if choices else None
        parameters.append(OpenApiParameter(name, kind, enum=enum, many=False))
    return parameters


_REFUSED = OpenApiResponse(
    response=OpenApiTypes.OBJECT, description=_("Refused; the body names the field and the rule.")
)
_PUBLISH_RESULT = {200: serializers.ProductPublishSerializer, 400: _REFUSED}


class ManifestYAMLRenderer(renderers.BaseRenderer):
    """Manifests as multi-document YAML, ready for `kubectl apply -f -`."""

    media_type = "application/yaml"
    format = "yaml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if isinstance(data, list):
            return services.dump_manifests(data, "yaml").encode()
        # Errors carry ErrorDetail strings: plain them through JSON first.
        plain = json.loads(renderers.JSONRenderer().render(data) or b"null")
        return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True).encode()


class ManifestJSONRenderer(renderers.JSONRenderer):
    format = "json"


class ProductPublishViewSet(ScopedModelViewSet):
    queryset = services.publish_queryset()
    serializer_class = serializers.ProductPublishSerializer
    filterset_class = filtersets.ProductPublishFilterSet
    search_fields = ("product__name", "product__slug", "cluster__name")
    ordering_fields = ("id", "environment", "status", "created", "updated")
    rbac_actions = {
        "publish": "publish",
        "withdraw": "publish",
        "rollback": "publish",
        "move": "publish",
        "revisions": "view",
        "deployments": "view",
        "manifests": "view",
        "diff": "view",
    }

    def get_serializer_class(self):
        if self.action == "rollback":
            return serializers.RollbackSerializer
        if self.action == "move":
            return serializers.MoveSerializer
        return super().get_serializer_class()

    def perform_create(self, serializer: serializers.ProductPublishSerializer) -> None:
        self._check_may_save(self._candidate(serializer), "add")
        values = dict(serializer.validated_data)
        api_services = values.pop("api_services")
        serializer.instance = service_call(
            services.create_publish,
            ProductPublish(**values),
            api_services,
            self.request.user,
            fields=serializer.fields,
        )
        self.etag_object = serializer.instance

    def delete_object(self, instance: ProductPublish) -> None:
        # The service tells the cluster's agents to remove what was published.
        services.delete_publish(instance, self.request.user)

    def _publish_response(self, publish: ProductPublish) -> Response:
        publish = self.get_queryset().get(pk=publish.pk)
        self.etag_object = publish
        context = self.get_serializer_context()
        return Response(serializers.ProductPublishSerializer(publish, context=context).data)

    @extend_schema(request=None, responses=_PUBLISH_RESULT)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk=None) -> Response:
        """Validate and snapshot the publish as a new revision (none when nothing changed) and
        make it the one its cluster's agents apply."""
        publish = self.get_object()
        service_call(services.publish_revision, publish, request.user, fields=("status",))
        return self._publish_response(publish)

    @extend_schema(request=None, responses=_PUBLISH_RESULT)
    @action(detail=True, methods=["post"])
    def withdraw(self, request: Request, pk=None) -> Response:
        """Empty the publish's desired state: its cluster's agents prune what they applied."""
        publish = self.get_object()
        service_call(services.withdraw, publish, request.user, fields=("status",))
        return self._publish_response(publish)

    @extend_schema(responses=_PUBLISH_RESULT)
    @action(detail=True, methods=["post"])
    def rollback(self, request: Request, pk=None) -> Response:
        """Publish an earlier revision's snapshot again, as a new revision."""
        publish = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        number = body.validated_data["revision"]
        service_call(services.rollback, publish, number, request.user, fields=("revision",))
        return self._publish_response(publish)

    @extend_schema(responses=_PUBLISH_RESULT)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, pk=None) -> Response:
        """Point the publish at another cluster; a published one is published there at once
        and removed from the old cluster."""
        publish = self.get_object()
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        cluster = body.validated_data["cluster"]
        service_call(services.move_publish, publish, cluster, request.user, fields=("cluster",))
        return self._publish_response(publish)

    def _filtered_page(self, filterset_class, queryset, serializer_class) -> Response:
        """A paginated list of the publish's revisions or statuses, through their FilterSet."""
        filterset = filterset_class(self.request.query_params, queryset=queryset)
        if not filterset.is_valid():
            raise exceptions.ValidationError(filterset.errors)
        page = self.paginate_queryset(filterset.qs)
        return self.get_paginated_response(serializer_class(page, many=True).data)

    @extend_schema(
        parameters=filter_parameters(filtersets.PublishRevisionFilterSet),
        responses=serializers.PublishRevisionSerializer(many=True),
    )
    @action(detail=True, filter_backends=())
    def revisions(self, request: Request, pk=None) -> Response:
        """The publish's revisions, newest first."""
        revisions = PublishRevision.objects.filter(publish=self.get_object())
        return self._filtered_page(
            filtersets.PublishRevisionFilterSet,
            revisions.select_related("created_by").order_by("-number"),
            serializers.PublishRevisionSerializer,
        )

    @extend_schema(
        parameters=filter_parameters(filtersets.DeploymentStatusFilterSet),
        responses=serializers.DeploymentStatusSerializer(many=True),
    )
    @action(detail=True, filter_backends=())
    def deployments(self, request: Request, pk=None) -> Response:
        """What the agents of each cluster report about the publish, cluster by cluster."""
        statuses = DeploymentStatus.objects.filter(publish=self.get_object())
        return self._filtered_page(
            filtersets.DeploymentStatusFilterSet,
            statuses.select_related("cluster").order_by("cluster__name"),
            serializers.DeploymentStatusSerializer,
        )

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "revision",
                int,
                description=_("Revision number; the current revision when left out."),
            ),
            OpenApiParameter("format", str, enum=["yaml", "json"], description=_("yaml or json")),
        ],
        responses={
            (200, "application/yaml"): OpenApiTypes.STR,
            (200, "application/json"): OpenApiTypes.ANY,
            (400, "application/json"): _REFUSED,
            (400, "application/yaml"): _REFUSED,
        },
    )
    @action(
        detail=True,
        renderer_classes=[ManifestYAMLRenderer, ManifestJSONRenderer],
        filterset_class=None,
        filter_backends=(),
        pagination_class=None,
    )
    def manifests(self, request: Request, pk=None) -> Response:
        """The Kubernetes manifests a revision becomes on the publish's cluster."""
        publish = self.get_object()
        query = serializers.ManifestQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        number = query.validated_data.get("revision")
        if number is None:
            revision = publish.current_revision
        else:
            revision = publish.revisions.filter(number=number).first()
        if revision is None:
            raise exceptions.ValidationError(
                {"revision": [_("This publish has no such revision (publish it first).")]}
            )
        try:
            manifests = services.revision_manifests(revision, publish.cluster)
        except TranslationError as exc:
            raise exceptions.ValidationError({"revision": exc.errors}) from None
        return Response(manifests)

    @extend_schema(responses=serializers.PublishDiffSerializer)
    @action(detail=True, filter_backends=(), pagination_class=None)
    def diff(self, request: Request, pk=None) -> Response:
        """What publishing now would change, against the current revision."""
        publish = self.get_object()
        changed = services.has_unpublished_changes(publish)
        # PostgreSQL's jsonb keeps no key order, so equal specs can still print differently.
        body = {
            "has_unpublished_changes": changed,
            "diff": services.live_diff(publish) if changed else "",
        }
        return Response(serializers.PublishDiffSerializer(body).data)
