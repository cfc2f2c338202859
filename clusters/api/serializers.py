"""Validation of what agents send; the shapes are clusters.protocol's TypedDicts."""

from __future__ import annotations

from collections import Counter

from rest_framework import serializers

from catalog.choices import GatewayClass

from ..protocol import (
    CONDITION_TYPES,
    MAX_ENTRIES_PER_LIST,
    MAX_MESSAGE_LENGTH,
    MAX_OBJECTS_PER_CATEGORY,
    MAX_REPORTS_PER_REQUEST,
)

# RFC 1123 subdomain: what Kubernetes accepts as a pod or object name.
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
CRD_REFERENCE = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?/[a-z0-9]+/[A-Z][A-Za-z0-9]*$"


class GatewayClassNamesField(serializers.DictField):
    """{Imp-Gateway gateway class: GatewayClass object name in the cluster}."""

    child = serializers.RegexField(DNS_SUBDOMAIN, max_length=253)

    def to_internal_value(self, data):
        names = super().to_internal_value(data)
        unknown = sorted(set(names) - set(GatewayClass.values))
        if unknown:
            raise serializers.ValidationError(
                f"unknown gateway classes {', '.join(unknown)} "
                f"(known: {', '.join(GatewayClass.values)})"
            )
        return names


class CapabilitiesSerializer(serializers.Serializer):
    kubernetes_version = serializers.CharField(max_length=50)
    gateway_classes = serializers.ListField(
        child=serializers.ChoiceField(choices=GatewayClass.values), max_length=20
    )
    crds = serializers.ListField(
        child=serializers.RegexField(
            CRD_REFERENCE,
            max_length=317,
            error_messages={"invalid": "expected <group>/<version>/<Kind>"},
        ),
        max_length=2000,
    )
    gateway_class_names = GatewayClassNamesField(required=False)


class _WithCapabilities(serializers.Serializer):
    """Capabilities, with `gateway_class_names` allowed beside them or inside them."""

    def validate(self, attrs: dict) -> dict:
        names = attrs.pop("gateway_class_names", None)
        capabilities = attrs.get("capabilities")
        if names is not None:
            if capabilities is None:
                raise serializers.ValidationError(
                    {"gateway_class_names": "send it together with capabilities"}
                )
            capabilities["gateway_class_names"] = names
        if capabilities is not None:
            extra = sorted(
                set(capabilities.get("gateway_class_names", {}))
                - set(capabilities["gateway_classes"])
            )
            if extra:
                raise serializers.ValidationError(
                    {
                        "gateway_class_names": "names classes not in capabilities.gateway_classes: "
                        + ", ".join(extra)
                    }
                )
        return attrs


class RegisterSerializer(_WithCapabilities):
    registration_token = serializers.CharField(max_length=200, trim_whitespace=True)
    name = serializers.RegexField(
        DNS_SUBDOMAIN,
        max_length=253,
        error_messages={"invalid": "expected a Kubernetes object name such as a pod name"},
    )
    version = serializers.CharField(max_length=50)
    capabilities = CapabilitiesSerializer()
    gateway_class_names = GatewayClassNamesField(required=False)


class HeartbeatSerializer(_WithCapabilities):
    version = serializers.CharField(max_length=50, required=False)
    capabilities = CapabilitiesSerializer(required=False)
    gateway_class_names = GatewayClassNamesField(required=False)


class ObjectRefSerializer(serializers.Serializer):
    api_version = serializers.CharField(max_length=253)
    kind = serializers.CharField(max_length=63)
    namespace = serializers.CharField(max_length=63, allow_blank=True, default="")
    name = serializers.CharField(max_length=253)


class FailedObjectSerializer(serializers.Serializer):
    object = ObjectRefSerializer()
    error = serializers.CharField(max_length=MAX_MESSAGE_LENGTH)


def _object_list() -> serializers.ListSerializer:
    return ObjectRefSerializer(many=True, required=False, max_length=MAX_OBJECTS_PER_CATEGORY)


class ObjectChangesSerializer(serializers.Serializer):
    created = _object_list()
    configured = _object_list()
    unchanged = _object_list()
    pruned = _object_list()
    failed = FailedObjectSerializer(many=True, required=False, max_length=MAX_OBJECTS_PER_CATEGORY)


class ConditionSerializer(serializers.Serializer):
    object = ObjectRefSerializer()
    type = serializers.CharField(
        max_length=63, help_text=f"One of {', '.join(CONDITION_TYPES)} (others are kept too)."
    )
    status = serializers.ChoiceField(choices=["True", "False", "Unknown"])
    reason = serializers.CharField(max_length=256, required=False, allow_blank=True)
    message = serializers.CharField(
        max_length=MAX_MESSAGE_LENGTH, required=False, allow_blank=True
    )


class DriftEventSerializer(serializers.Serializer):
    object = ObjectRefSerializer()
    detected_at = serializers.DateTimeField()
    fields = serializers.ListField(
        child=serializers.CharField(max_length=500), required=False, max_length=MAX_ENTRIES_PER_LIST
    )
    action = serializers.ChoiceField(
        choices=["reapplied", "reported", "refused"], required=False
    )


class PublishReportSerializer(serializers.Serializer):
    # The ranges of the columns they are stored in (a larger number was a 500).
    publish_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    revision = serializers.IntegerField(
        min_value=1, max_value=2**31 - 1, required=False, allow_null=True
    )
    removed = serializers.BooleanField(default=False)
    objects = ObjectChangesSerializer(required=False)
    conditions = ConditionSerializer(many=True, required=False, max_length=MAX_ENTRIES_PER_LIST)
    errors = serializers.ListField(
        child=serializers.CharField(max_length=MAX_MESSAGE_LENGTH),
        required=False,
        max_length=MAX_ENTRIES_PER_LIST,
    )
    drift = DriftEventSerializer(many=True, required=False, max_length=MAX_ENTRIES_PER_LIST)

    def validate(self, attrs: dict) -> dict:
        if not attrs["removed"] and not attrs.get("revision"):
            raise serializers.ValidationError(
                {"revision": "the revision applied is required unless removed is true"}
            )
        return attrs


class StatusReportSerializer(serializers.Serializer):
    reports = PublishReportSerializer(
        many=True, allow_empty=False, max_length=MAX_REPORTS_PER_REQUEST
    )

    def validate_reports(self, reports: list[dict]) -> list[dict]:
        counts = Counter(report["publish_id"] for report in reports)
        repeated = sorted(pk for pk, count in counts.items() if count > 1)
        if repeated:
            raise serializers.ValidationError(
                "publish_id: report each publish once per request; repeated: "
                + ", ".join(str(pk) for pk in repeated)
            )
        return reports


# --- Responses (for the OpenAPI schema; the views return the protocol's TypedDicts) ----------


class AccessTokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="A JWT for `Authorization: Bearer`.")
    expires_at = serializers.DateTimeField()
    agent_id = serializers.IntegerField()


class HeartbeatResponseSerializer(serializers.Serializer):
    agent_id = serializers.IntegerField()
    status = serializers.ChoiceField(choices=["connected"])
    desired_state_revision = serializers.IntegerField()
    server_time = serializers.DateTimeField()


class StatusOutcomeSerializer(serializers.Serializer):
    publish_id = serializers.IntegerField()
    result = serializers.ChoiceField(
        choices=["stored", "unchanged", "deleted", "stale", "still_published", "unknown_revision"]
    )
    state = serializers.ChoiceField(
        choices=["Pending", "Applying", "Ready", "Degraded", "Failed"], required=False
    )


class StatusResponseSerializer(serializers.Serializer):
    results = StatusOutcomeSerializer(many=True)


class ErrorSerializer(serializers.Serializer):
    error = serializers.CharField(help_text="A clusters.protocol.ErrorCode value.")
    detail = serializers.JSONField(help_text="A message, or messages by field.")
