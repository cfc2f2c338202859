"""Publishing operations: snapshot, validate, publish, withdraw, roll back, diff and render.

Admin actions, API views, tasks and commands all call these; each runs in one transaction.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Prefetch

from catalog.choices import APIServiceProtocol
from catalog.models import APIService, Backend, Policy, Route
from catalog.policies import valid_header_name
from clusters.models import Cluster
from clusters.services import bump_desired_state_on_commit
from impgateway import audit, rbac
from impgateway.validators import (
    endpoint_host_error,
    header_value_error,
    is_dns_label,
    parse_endpoint,
    regex_error,
)

from .choices import AuthMode, PublishStatus, RevisionAction
from .models import HostnameClaim, ProductPublish, PublishRevision
from .translation import TranslationError, render_manifests, translation_errors
from .translation.spec import SPEC_VERSION, RevisionSpec

CORE_API_GROUPS = {"v1", "discovery.k8s.io/v1", "coordination.k8s.io/v1"}


def publish_queryset():
    """Publishes with everything a snapshot reads, in a constant number of queries."""
    return ProductPublish.objects.select_related(
        "tenant", "product", "gateway", "cluster", "current_revision"
    ).prefetch_related(
        "gateway__listeners",
        Prefetch(
            "api_services",
            queryset=APIService.objects.order_by("name").prefetch_related(
                Prefetch("backends", queryset=Backend.objects.order_by("name")),
                Prefetch("routes", queryset=Route.objects.order_by("name")),
                Prefetch("policies", queryset=Policy.objects.order_by("name")),
            ),
        ),
    )


def build_spec(publish: ProductPublish) -> RevisionSpec:
    """The plain-data snapshot of a publish as it is defined now (consumers excluded: API keys
    are joined in when desired state is served, so they never rest in a revision)."""
    environment = publish.environment
    services = []
    for service in publish.api_services.all():
        backends = list(service.backends.all())
        default_backend = backends[0].name if backends else ""
        backend_names = {backend.pk: backend.name for backend in backends}
        services.append(
            {
                "name": service.name,
                "version": service.version,
                "protocol": service.protocol,
                "backends": [_backend_spec(backend) for backend in backends],
                "routes": [
                    _route_spec(route, backend_names.get(route.backend_id, default_backend))
                    for route in service.routes.all()
                ],
                "policies": [
                    {"name": policy.name, "kind": policy.kind, "config": policy.config}
                    for policy in service.policies.all()
                    if policy.applies_to(environment)
                ],
            }
        )
    listeners = sorted(publish.gateway.listeners.all(), key=lambda item: (item.port, item.name))
    oauth2 = None
    if publish.auth_mode == AuthMode.OAUTH2:
        oauth2 = {
            "issuer": publish.oauth2_issuer,
            "jwks_uri": publish.oauth2_jwks_uri,
            "audiences": sorted(publish.oauth2_audiences),
        }
    return {
        "spec_version": SPEC_VERSION,
        "publish": {
            "id": publish.pk,
            "name": publish.resource_name,
            "namespace": publish.cluster.namespace,
            "tenant": publish.tenant.slug,
            "environment": environment,
            "auth_mode": publish.auth_mode,
            "hostnames": sorted(publish.hostnames),
            "product": {
                "slug": publish.product.slug,
                "name": publish.product.name,
                "version": publish.product.version,
            },
        },
        "gateway": {
            "name": publish.gateway.name,
            "gateway_class": publish.gateway.gateway_class,
            "labels": dict(sorted(publish.gateway.labels.items())),
            "listeners": [_listener_spec(listener) for listener in listeners],
        },
        "services": services,
        "oauth2": oauth2,
        "consumers": [],
    }


def _backend_spec(backend: Backend) -> dict:
    health_check = None
    if backend.health_check_path:
        health_check = {
            "path": backend.health_check_path,
            "interval_seconds": backend.health_check_interval_seconds,
        }
    return {
        "name": backend.name,
        "endpoints": [parse_endpoint(endpoint) for endpoint in backend.endpoints],
        "load_balancing": backend.load_balancing,
        "timeout_seconds": backend.timeout_seconds,
        "retry_attempts": backend.retry_attempts,
        "health_check": health_check,
    }


def _route_spec(route: Route, backend_name: str) -> dict:
    return {
        "name": route.name,
        "path": route.path,
        "match_type": route.match_type,
        "methods": sorted(route.methods),
        "header_matches": sorted(
            (
                {"name": m["name"], "value": m["value"], "type": m.get("type", "Exact")}
                for m in route.header_matches
            ),
            key=lambda m: (m["name"].lower(), m["value"]),
        ),
        "backend": backend_name,
        "rewrite_path_prefix": route.rewrite_path_prefix or None,
        "timeout_seconds": route.timeout_seconds,
    }


def _listener_spec(listener) -> dict:
    certificate_ref = None
    if listener.certificate_ref:
        namespace, _slash, name = listener.certificate_ref.rpartition("/")
        certificate_ref = {"namespace": namespace or None, "name": name}
    return {
        "name": listener.name,
        "port": listener.port,
        "protocol": listener.protocol,
        "hostname": listener.hostname or None,
        "tls_mode": listener.tls_mode or None,
        "certificate_ref": certificate_ref,
    }


def spec_hash(spec: dict) -> str:
    """The content hash of a spec: SHA-256 of its canonical JSON."""
    canonical = json.dumps(spec, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# --- Validation ---------------------------------------------------------------------------


def validate_spec(publish: ProductPublish, spec: RevisionSpec) -> list[str]:
    """Everything that must hold before a spec may reach a cluster; messages a user can act on."""
    errors: list[str] = []
    errors += _hostname_errors(spec)
    errors += _content_errors(spec)
    errors += _value_errors(spec)
    errors += _listener_hostname_errors(spec)
    errors += _overlap_within(spec)
    errors += _hostname_taken_errors(publish, spec)
    errors += translation_errors(spec)
    errors += _capability_errors(publish.cluster, spec)
    errors += _certificate_errors(publish.cluster, spec)
    return errors


def _hostname_errors(spec: RevisionSpec) -> list[str]:
    errors = []
    for hostname in spec["publish"]["hostnames"]:
        if len(hostname) > 253:
            errors.append(f"hostname '{hostname}' is longer than 253 characters")
        for label in hostname.split("."):
            if not is_dns_label(label):
                errors.append(
                    f"hostname '{hostname}': label '{label}' is not a valid RFC 1123 DNS label "
                    "(at most 63 lower-case letters, digits and '-')"
                )
    return errors


def _value_errors(spec: RevisionSpec) -> list[str]:
    """What the cluster or gateway would refuse later, checked again at publish: rules may be
    newer than the definitions saved under older ones. Each message names the object."""
    errors = []
    for listener in spec["gateway"]["listeners"]:
        hostname = listener["hostname"]
        if hostname and any(len(label) > 63 for label in hostname.split(".")):
            errors.append(
                f"listener '{listener['name']}': hostname '{hostname}' has a label longer than "
                "63 characters"
            )
    for service in spec["services"]:
        for backend in service["backends"]:
            for endpoint in backend["endpoints"]:
                problem = endpoint_host_error(endpoint["host"])
                if problem:
                    errors.append(
                        f"backend '{backend['name']}' of service '{service['name']}': endpoint "
                        f"'{endpoint['host']}:{endpoint['port']}': {problem}"
                    )
        for route in service["routes"]:
            where = f"route '{route['name']}' of service '{service['name']}'"
            if route["match_type"] == "RegularExpression" and (
                problem := regex_error(route["path"])
            ):
                errors.append(f"{where}: path '{route['path']}': {problem}")
            for match in route["header_matches"]:
                header = match["name"]
                if not valid_header_name(header):
                    errors.append(f"{where}: '{header}' is not a valid header name")
                if problem := header_value_error(match["value"]):
                    errors.append(f"{where}: header '{header}': {problem}")
                elif match["type"] == "RegularExpression" and (
                    problem := regex_error(match["value"])
                ):
                    errors.append(f"{where}: header '{header}': {problem}")
        for policy in service["policies"]:
            if policy["kind"] != "request_headers":
                continue
            for header, value in policy["config"]["set"].items():
                if problem := header_value_error(value):
                    errors.append(
                        f"policy '{policy['name']}' of service '{service['name']}': header "
                        f"'{header}': {problem}"
                    )
    return errors


def _content_errors(spec: RevisionSpec) -> list[str]:
    errors = []
    if not spec["services"]:
        errors.append("the publish exposes no API service: choose at least one")
    if not spec["gateway"]["listeners"]:
        errors.append(f"gateway '{spec['gateway']['name']}' has no listeners")
    protocols = {listener["protocol"] for listener in spec["gateway"]["listeners"]}
    for service in spec["services"]:
        if not service["routes"]:
            errors.append(f"service '{service['name']}' has no routes")
        if service["routes"] and not service["backends"]:
            errors.append(f"service '{service['name']}' has routes but no backend")
        if service["protocol"] == APIServiceProtocol.GRPC and not protocols & {"GRPC", "HTTPS"}:
            errors.append(
                f"service '{service['name']}' is gRPC but gateway '{spec['gateway']['name']}' "
                "has no GRPC or HTTPS listener"
            )
        if service["protocol"] == APIServiceProtocol.HTTP and not protocols & {"HTTP", "HTTPS"}:
            errors.append(
                f"service '{service['name']}' is HTTP but gateway '{spec['gateway']['name']}' "
                "has no HTTP or HTTPS listener"
            )
    if spec["publish"]["auth_mode"] == AuthMode.OAUTH2 and not spec["oauth2"]:
        errors.append("auth mode oauth2 needs an issuer and a JWKS URI")
    return errors


def _hostname_covers(pattern: str, hostname: str) -> bool:
    if pattern.startswith("*."):
        return hostname.endswith(pattern[1:]) and hostname.count(".") >= pattern.count(".")
    return pattern == hostname


def _listener_hostname_errors(spec: RevisionSpec) -> list[str]:
    errors = []
    for listener in spec["gateway"]["listeners"]:
        pattern = listener["hostname"]
        if not pattern or listener["protocol"] in ("TCP", "TLS"):
            continue
        for hostname in spec["publish"]["hostnames"]:
            if not _hostname_covers(pattern, hostname):
                errors.append(
                    f"listener '{listener['name']}': hostname '{pattern}' does not cover the "
                    f"publish hostname '{hostname}', so routes could not attach to it"
                )
    return errors


def _route_keys(spec: dict) -> dict[tuple, list[tuple[frozenset[str], str]]]:
    """(hostname, match type, path, headers) -> [(methods, where)] for every route of a spec."""
    keys: dict[tuple, list[tuple[frozenset[str], str]]] = defaultdict(list)
    for service in spec["services"]:
        for route in service["routes"]:
            headers = tuple(
                sorted((m["name"].lower(), m["type"], m["value"]) for m in route["header_matches"])
            )
            where = f"route '{route['name']}' of service '{service['name']}'"
            for hostname in spec["publish"]["hostnames"]:
                key = (hostname, route["match_type"], route["path"], headers)
                keys[key].append((frozenset(route["methods"]), where))
    return keys


def _methods_overlap(first: frozenset[str], second: frozenset[str]) -> bool:
    return not first or not second or bool(first & second)


def _describe(key: tuple, first: frozenset[str], second: frozenset[str]) -> str:
    hostname, match_type, path, _headers = key
    if first and second:
        methods = ", ".join(sorted(first & second))
    else:
        methods = ", ".join(sorted(first or second)) or "any method"
    return f"{hostname} {match_type} {path} ({methods})"


def _overlap_within(spec: dict) -> list[str]:
    errors = []
    for key, entries in _route_keys(spec).items():
        for index, (methods, where) in enumerate(entries):
            for other_methods, other_where in entries[index + 1 :]:
                if _methods_overlap(methods, other_methods):
                    errors.append(
                        f"{where} and {other_where} both serve "
                        f"{_describe(key, methods, other_methods)}"
                    )
    return errors


def _hostname_taken_errors(publish: ProductPublish, spec: dict) -> list[str]:
    """Hostnames of `spec` another publish already serves on the publish's cluster. A
    hostname has one owner per cluster; another tenant's publish is not named."""
    claims = (
        HostnameClaim.objects.filter(
            cluster_id=publish.cluster_id, hostname__in=spec["publish"]["hostnames"]
        )
        .exclude(publish_id=publish.pk)
        .select_related("publish__product", "cluster")
        .order_by("hostname")
    )
    errors = []
    for claim in claims:
        owner = claim.publish
        if owner.tenant_id == publish.tenant_id:
            by = f"publish #{owner.pk} ({owner.product.slug}, {owner.environment}) serves it"
        else:
            by = "another publish serves it"
        errors.append(
            f"hostname '{claim.hostname}' is taken on cluster '{claim.cluster.name}': {by}"
        )
    return errors


def _claim_hostnames(publish: ProductPublish, hostnames: list[str]) -> None:
    """Make `publish` the owner of `hostnames` on its cluster and release what it held
    elsewhere. Raises ValidationError when another publish got there first, also one whose
    transaction commits while this one runs (the unique constraint decides)."""
    HostnameClaim.objects.filter(publish=publish).exclude(
        cluster_id=publish.cluster_id, hostname__in=hostnames
    ).delete()
    held = set(HostnameClaim.objects.filter(publish=publish).values_list("hostname", flat=True))
    missing = sorted(set(hostnames) - held)
    try:
        with transaction.atomic():
            HostnameClaim.objects.bulk_create(
                HostnameClaim(cluster_id=publish.cluster_id, hostname=hostname, publish=publish)
                for hostname in missing
            )
    except IntegrityError:
        errors = _hostname_taken_errors(publish, {"publish": {"hostnames": missing}})
        raise ValidationError(
            errors or ["hostname: taken on the cluster by another publish"]
        ) from None


def _release_hostnames(publish: ProductPublish) -> None:
    HostnameClaim.objects.filter(publish=publish).delete()


def _certificate_errors(cluster: Cluster, spec: RevisionSpec) -> list[str]:
    """Listener certificates in other namespaces than the cluster's: only in the namespaces
    the cluster's operators opened (certificate_namespaces). Otherwise a tenant could have the
    agent grant its gateway any TLS Secret of any namespace."""
    allowed = {cluster.namespace, *cluster.certificate_namespaces}
    errors = []
    for listener in spec["gateway"]["listeners"]:
        ref = listener["certificate_ref"]
        if ref and ref["namespace"] and ref["namespace"] not in allowed:
            errors.append(
                f"listener '{listener['name']}': certificate '{ref['namespace']}/{ref['name']}' "
                f"is in namespace '{ref['namespace']}', which cluster '{cluster.name}' does not "
                f"open to gateways (its certificate namespaces: "
                f"{', '.join(sorted(allowed))})"
            )
    return errors


def _capability_errors(cluster: Cluster, spec: RevisionSpec) -> list[str]:
    errors = []
    gateway_class = spec["gateway"]["gateway_class"]
    reported = cluster.gateway_classes
    if reported is not None and gateway_class not in reported:
        errors.append(
            f"cluster '{cluster.name}' does not run gateway class '{gateway_class}' "
            f"(its agents report: {', '.join(reported) or 'none'})"
        )
        return errors
    crds = cluster.capabilities.get("crds") if cluster.capabilities else None
    if not isinstance(crds, list):
        return errors
    try:
        manifests = render_manifests(spec, revision=0, capabilities=cluster.capabilities)
    except TranslationError:
        return errors  # reported by the translation check itself
    installed = set(crds)
    missing = sorted(
        {
            f"{m['apiVersion']}/{m['kind']}"
            for m in manifests
            if m["apiVersion"] not in CORE_API_GROUPS
            and f"{m['apiVersion']}/{m['kind']}" not in installed
        }
    )
    errors.extend(
        f"cluster '{cluster.name}' lacks the custom resource {name} that gateway class "
        f"'{gateway_class}' needs"
        for name in missing
    )
    return errors


# --- Operations ---------------------------------------------------------------------------


def _locked(publish: ProductPublish) -> ProductPublish:
    # Lock the row first so concurrent publishes of one publish number revisions in turn.
    # Only this row: the model's default ordering joins product and cluster, and FOR UPDATE
    # would lock their rows too, serialising every publish of a cluster.
    list(
        ProductPublish.objects.select_for_update()
        .filter(pk=publish.pk)
        .order_by()
        .values_list("pk")
    )
    return publish_queryset().get(pk=publish.pk)


@transaction.atomic
def publish_revision(publish: ProductPublish, user=None) -> tuple[PublishRevision, bool]:
    """Validate and snapshot the publish; return its current revision and whether it is new.

    Publishing with no change since the latest revision creates no new revision.
    Raises ValidationError with every problem found; nothing is written then.
    """
    locked = _locked(publish)
    before = audit.snapshot(locked)
    spec = build_spec(locked)
    errors = validate_spec(locked, spec)
    if errors:
        raise ValidationError(errors)
    try:
        render_manifests(spec, revision=1, capabilities=locked.cluster.capabilities)
    except TranslationError as exc:
        raise ValidationError(exc.errors) from exc
    revision, created = _record_revision(locked, spec, RevisionAction.PUBLISH, user)
    _set_published(locked, revision, created)
    _audit(user, audit.AuditAction.PUBLISH, locked, before)
    _sync_instance(publish, locked)
    return revision, created


def _audit(user, action: str, publish: ProductPublish, before: dict | None) -> None:
    """Record an operation that changed the publish (a publish with no change records none)."""
    after = audit.snapshot(publish)
    if {**(before or {}), "updated": None} != {**(after or {}), "updated": None}:
        audit.record(user, action, publish, before, after)


def _record_revision(
    publish: ProductPublish,
    spec: dict,
    action: str,
    user,
    rolled_back_from: int | None = None,
) -> tuple[PublishRevision, bool]:
    content_hash = spec_hash(spec)
    latest = publish.revisions.order_by("-number").first()
    if latest is not None and latest.content_hash == content_hash and rolled_back_from is None:
        return latest, False
    revision = PublishRevision.objects.create(
        publish=publish,
        number=(latest.number + 1) if latest else 1,
        spec=spec,
        content_hash=content_hash,
        action=action,
        rolled_back_from=rolled_back_from,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    return revision, True


def _set_published(publish: ProductPublish, revision: PublishRevision, created: bool) -> None:
    changed = (
        created
        or publish.status != PublishStatus.PUBLISHED
        or publish.current_revision_id != revision.pk
    )
    _claim_hostnames(publish, revision.spec["publish"]["hostnames"])
    publish.status = PublishStatus.PUBLISHED
    publish.current_revision = revision
    publish.save(update_fields=["status", "current_revision", "updated"])
    if changed:
        bump_desired_state_on_commit([publish.cluster_id])


def _sync_instance(target: ProductPublish, source: ProductPublish) -> None:
    target.status = source.status
    target.current_revision = source.current_revision
    target.current_revision_id = source.current_revision_id
    target.updated = source.updated


@transaction.atomic
def withdraw(publish: ProductPublish, user=None) -> None:
    """Empty the publish's desired state: its cluster's agents prune what they applied."""
    locked = _locked(publish)
    if locked.status != PublishStatus.PUBLISHED:
        raise ValidationError(
            f"status: only a published publish can be withdrawn (this one is {locked.status})"
        )
    before = audit.snapshot(locked)
    locked.status = PublishStatus.WITHDRAWN
    locked.save(update_fields=["status", "updated"])
    _release_hostnames(locked)
    _audit(user, audit.AuditAction.WITHDRAW, locked, before)
    bump_desired_state_on_commit([locked.cluster_id])
    _sync_instance(publish, locked)


@transaction.atomic
def rollback(publish: ProductPublish, number: int, user=None) -> PublishRevision:
    """Publish an earlier revision's spec again, as a new revision."""
    locked = _locked(publish)
    target = locked.revisions.filter(number=number).first()
    if target is None:
        raise ValidationError(f"revision: publish #{locked.pk} has no revision {number}")
    spec = target.spec
    if spec.get("spec_version") != SPEC_VERSION:
        raise ValidationError(
            f"revision: revision {number} uses spec version {spec.get('spec_version')}, "
            f"which this version of Imp-Gateway cannot publish again (current: {SPEC_VERSION})"
        )
    errors = (
        _hostname_taken_errors(locked, spec)
        + _capability_errors(locked.cluster, spec)
        + _certificate_errors(locked.cluster, spec)
    )
    if errors:
        raise ValidationError(errors)
    before = audit.snapshot(locked)
    revision, _created = _record_revision(
        locked, spec, RevisionAction.ROLLBACK, user, rolled_back_from=number
    )
    _set_published(locked, revision, True)
    _audit(user, audit.AuditAction.ROLLBACK, locked, before)
    _sync_instance(publish, locked)
    return revision


@transaction.atomic
def move_publish(publish: ProductPublish, cluster: Cluster, user=None) -> None:
    """Point a publish at another cluster. A published publish is published there at once
    (validated against the new cluster) and its old cluster's agents remove it."""
    locked = _locked(publish)
    previous_cluster_id = locked.cluster_id
    if cluster.pk == previous_cluster_id:
        return
    if ProductPublish.objects.filter(
        product_id=locked.product_id, cluster=cluster, environment=locked.environment
    ).exists():
        raise ValidationError(
            f"cluster: product '{locked.product.slug}' already has a {locked.environment} "
            f"publish on cluster '{cluster.name}'"
        )
    before = audit.snapshot(locked)
    locked.cluster = cluster
    locked.save(update_fields=["cluster", "updated"])
    _audit(user, audit.AuditAction.MOVE, locked, before)
    if locked.status == PublishStatus.PUBLISHED:
        publish_revision(locked, user)
        bump_desired_state_on_commit([previous_cluster_id])
    else:
        _release_hostnames(locked)
    publish.refresh_from_db()


@transaction.atomic
def create_publish(
    publish: ProductPublish, api_services: Iterable[APIService], user=None
) -> ProductPublish:
    """Save a new publish (unsaved, with its fields set) as a draft exposing `api_services`.
    Nothing reaches a cluster until it is published. Raises ValidationError naming the field."""
    api_services = list(api_services)
    publish.status = PublishStatus.DRAFT
    publish.current_revision = None
    publish.full_clean()
    publish.clean_api_services(api_services)
    publish.save()
    publish.api_services.set(api_services)
    rbac.object_saved(publish, None)
    audit.record(user, audit.AuditAction.CREATE, publish, None, audit.snapshot(publish))
    return publish


@transaction.atomic
def delete_publish(publish: ProductPublish, user=None) -> None:
    """Delete a publish; if it was published, its cluster's agents remove it."""
    if publish.status == PublishStatus.PUBLISHED:
        bump_desired_state_on_commit([publish.cluster_id])
    audit.record(user, audit.AuditAction.DELETE, publish, audit.snapshot(publish), None)
    rbac.delete_objects([publish])


# --- Inspection ---------------------------------------------------------------------------


def has_unpublished_changes(publish: ProductPublish) -> bool:
    """True when the live definitions differ from the latest revision (or there is none)."""
    latest = publish.current_revision
    if latest is None:
        return True
    return spec_hash(build_spec(publish)) != latest.content_hash


def spec_diff(old: dict | None, new: dict, old_label: str, new_label: str) -> str:
    """A unified diff of two specs as YAML; empty when they are equal."""
    before = _spec_yaml(old) if old is not None else ""
    after = _spec_yaml(new)
    return "".join(
        difflib.unified_diff(
            before.splitlines(keepends=True),
            after.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
        )
    )


def _spec_yaml(spec: dict) -> str:
    # Sorted keys: PostgreSQL's jsonb does not keep key order, and a diff must show changes only.
    return yaml.safe_dump(spec, sort_keys=True, allow_unicode=True, default_flow_style=False)


def live_diff(publish: ProductPublish) -> str:
    """What publishing now would change, against the current revision."""
    latest = publish.current_revision
    label = f"revision {latest.number}" if latest else "nothing published"
    return spec_diff(
        latest.spec if latest else None, build_spec(publish), label, "live definitions"
    )


def revision_manifests(revision: PublishRevision, cluster: Cluster | None = None) -> list[dict]:
    """The manifests a revision becomes on its publish's cluster."""
    target = cluster or revision.publish.cluster
    return render_manifests(
        revision.spec, revision=revision.number, capabilities=target.capabilities
    )


def cluster_manifests(cluster: Cluster) -> list[dict]:
    """Everything published for a cluster, as its agents would apply it (without API keys)."""
    manifests: list[dict] = []
    publishes = ProductPublish.objects.filter(
        cluster=cluster, status=PublishStatus.PUBLISHED, current_revision__isnull=False
    ).select_related("current_revision")
    for publish in publishes.order_by("pk"):
        revision = publish.current_revision
        manifests.extend(
            render_manifests(
                revision.spec, revision=revision.number, capabilities=cluster.capabilities
            )
        )
    return manifests


def dump_manifests(manifests: list[dict[str, Any]], output: str) -> str:
    """Manifests as multi-document YAML (`kubectl apply -f -` ready) or one JSON list."""
    if output == "json":
        return json.dumps(manifests, indent=2, ensure_ascii=False) + "\n"
    return "".join(
        "---\n" + yaml.safe_dump(m, sort_keys=False, allow_unicode=True) for m in manifests
    )
