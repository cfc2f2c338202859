"""ObjectMeta checks as the API server makes them (names, generateName, namespace, labels,
annotations, owner references, finalizers); the name syntax itself is in ../names.py.

Messages are the API server's, so a failing name reads the same here as from a real cluster.
"""

from __future__ import annotations

from typing import Any

from ..names import NameCheck, dns1123_label, label_value, qualified_name
from . import fielderrors
from .fielderrors import FieldError

_TOTAL_ANNOTATION_SIZE = 256 * 1024


def validate_object_meta(
    metadata: Any, *, namespaced: bool, name_check: NameCheck, path: str = "metadata"
) -> list[FieldError]:
    """ValidateObjectMeta's checks on a decoded `metadata` (types are checked by the schema)."""
    if not isinstance(metadata, dict):
        return []
    errors: list[FieldError] = []
    name = metadata.get("name")
    generate_name = metadata.get("generateName")
    if isinstance(generate_name, str) and generate_name:
        # A generateName prefix may end with '-': the server appends random characters.
        trimmed = generate_name[:-1] if generate_name.endswith("-") else generate_name
        for problem in name_check(trimmed):
            errors.append(fielderrors.invalid(f"{path}.generateName", generate_name, problem))
    if not name and not generate_name:
        errors.append(fielderrors.required(f"{path}.name", "name or generateName is required"))
    elif isinstance(name, str) and name:
        for problem in name_check(name):
            errors.append(fielderrors.invalid(f"{path}.name", name, problem))
    namespace = metadata.get("namespace")
    if namespaced:
        if isinstance(namespace, str) and namespace:
            for problem in dns1123_label(namespace):
                errors.append(fielderrors.invalid(f"{path}.namespace", namespace, problem))
    elif namespace:
        errors.append(fielderrors.forbidden(f"{path}.namespace", "not allowed on this type"))
    generation = metadata.get("generation")
    if isinstance(generation, int) and generation < 0:
        errors.append(
            fielderrors.invalid(
                f"{path}.generation", generation, "must be greater than or equal to 0"
            )
        )
    labels = metadata.get("labels")
    if isinstance(labels, dict):
        errors.extend(validate_labels(labels, f"{path}.labels"))
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        errors.extend(validate_annotations(annotations, f"{path}.annotations"))
    finalizers = metadata.get("finalizers")
    if isinstance(finalizers, list):
        for position, finalizer in enumerate(finalizers):
            if isinstance(finalizer, str):
                for problem in qualified_name(finalizer):
                    errors.append(
                        fielderrors.invalid(f"{path}.finalizers[{position}]", finalizer, problem)
                    )
    return errors


def validate_labels(labels: dict, path: str) -> list[FieldError]:
    errors = []
    for label, value in labels.items():
        for problem in qualified_name(str(label)):
            errors.append(fielderrors.invalid(path, label, problem))
        if isinstance(value, str):
            for problem in label_value(value):
                errors.append(fielderrors.invalid(path, value, problem))
    return errors


def validate_annotations(annotations: dict, path: str) -> list[FieldError]:
    errors = []
    total = 0
    for annotation, value in annotations.items():
        for problem in qualified_name(str(annotation).lower()):
            errors.append(fielderrors.invalid(path, annotation, problem))
        total += len(str(annotation).encode()) + len(str(value).encode())
    if total > _TOTAL_ANNOTATION_SIZE:
        errors.append(fielderrors.too_long(path, _TOTAL_ANNOTATION_SIZE))
    return errors
