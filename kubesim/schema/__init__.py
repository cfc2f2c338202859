"""Validate Kubernetes manifests against the real schemas: CRD OpenAPI schemas with their CEL
rules, and Kubernetes' own kinds, with the API server's error types and messages.

Used by the translation tests and by the simulated API server; it imports no Django code.
"""

from .fielderrors import FieldError, invalid_status
from .nodes import UnsupportedRule
from .registry import ResourceType, SchemaRegistry, validate_manifest

__all__ = [
    "FieldError",
    "ResourceType",
    "SchemaRegistry",
    "UnsupportedRule",
    "invalid_status",
    "validate_manifest",
]
