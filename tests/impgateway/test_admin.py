"""The admin console: every page opens, inlines save, bad input shows errors and saves nothing."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.urls import reverse

from catalog.models import APIService, Route
from tests.factories import BackendFactory

pytestmark = pytest.mark.django_db

PROJECT_APPS = {"catalog", "publishing", "clusters"}
# Created by the system, never by hand: their add pages are refused.
READ_ONLY_MODELS = {
    "clusters.agent",
    "publishing.publishrevision",
    "publishing.deploymentstatus",
    "publishing.hostnameclaim",
}


def project_models():
    return [
        model
        for model in apps.get_models()
        if model._meta.app_label in PROJECT_APPS and admin.site.is_registered(model)
    ]


def test_every_project_model_is_in_the_admin():
    registered = {m._meta.label for m in project_models()}
    expected = {
        m._meta.label
        for m in apps.get_models()
        if m._meta.app_label in PROJECT_APPS and not m._meta.auto_created
    }
    assert expected <= registered


@pytest.mark.parametrize("model", project_models(), ids=lambda m: m._meta.label)
def test_changelist_and_add_pages_open(admin_client, model, django_assert_max_num_queries):
    from impgateway.demo import create_demo_data

    create_demo_data()
    opts = model._meta
    with django_assert_max_num_queries(15):
        response = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert response.status_code == 200
    add_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
    response = admin_client.get(add_url)
    assert response.status_code == (403 if opts.label_lower in READ_ONLY_MODELS else 200)
    instance = model.objects.first()
    if instance is not None:
        change_url = reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[instance.pk])
        assert admin_client.get(change_url).status_code == 200


def test_index_reads_as_imp_gateway(admin_client):
    body = admin_client.get(reverse("admin:index")).content.decode()
    assert "Imp-Gateway" in body
    assert "Django administration" not in body


def inline_management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def service_form(service: APIService, routes: list[dict]) -> dict:
    data = {
        "tenant": service.tenant_id,
        "name": service.name,
        "version": service.version,
        "status": service.status,
        "protocol": service.protocol,
        "description": "",
        "seen_updated": service.updated.isoformat(),
    }
    backends = list(service.backends.all())
    data.update(inline_management("backends", len(backends), len(backends)))
    for index, backend in enumerate(backends):
        data.update(
            {
                f"backends-{index}-id": backend.pk,
                f"backends-{index}-service": service.pk,
                f"backends-{index}-name": backend.name,
                f"backends-{index}-endpoints": '["upstream.default.svc.cluster.local:8080"]',
                f"backends-{index}-load_balancing": "round_robin",
                f"backends-{index}-retry_attempts": "0",
                f"backends-{index}-health_check_interval_seconds": "10",
            }
        )
    data.update(inline_management("routes", len(routes)))
    for index, route in enumerate(routes):
        for key, value in route.items():
            data[f"routes-{index}-{key}"] = value
    data.update(inline_management("policies", 0))
    return data


def test_save_service_with_routes_through_the_inline(admin_client):
    backend = BackendFactory(service__name="orders")
    service = backend.service
    url = reverse("admin:catalog_apiservice_change", args=[service.pk])
    data = service_form(
        service,
        [
            {
                "name": "list",
                "path": "/v1/orders",
                "match_type": "PathPrefix",
                "methods": ["GET"],
                "header_matches": "[]",
                "backend": backend.pk,
            },
            {
                "name": "by-id",
                "path": "/v1/orders/[0-9]+",
                "match_type": "RegularExpression",
                "methods": ["GET", "DELETE"],
                "header_matches": "[]",
                "backend": "",
            },
        ],
    )
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    routes = {r.name: r for r in Route.objects.filter(service=service)}
    assert set(routes) == {"list", "by-id"}
    assert routes["by-id"].methods == ["GET", "DELETE"]
    assert routes["list"].backend == backend


def test_invalid_route_shows_field_errors_and_saves_nothing(admin_client):
    backend = BackendFactory()
    service = backend.service
    url = reverse("admin:catalog_apiservice_change", args=[service.pk])
    data = service_form(
        service,
        [
            {"name": "good", "path": "/v1/ok", "match_type": "PathPrefix", "header_matches": "[]"},
            {
                "name": "bad",
                "path": "/v1/[",
                "match_type": "RegularExpression",
                "header_matches": "[]",
            },
        ],
    )
    data["version"] = "v2"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    formset_errors = [
        formset.formset.errors
        for formset in response.context["inline_admin_formsets"]
        if formset.formset.prefix == "routes"
    ][0]
    assert "cannot be used" in str(formset_errors[1]["path"])
    service.refresh_from_db()
    assert service.version == "v1"
    assert not Route.objects.filter(service=service).exists()


def test_concurrent_edit_is_detected_not_lost(admin_client):
    backend = BackendFactory()
    service = backend.service
    url = reverse("admin:catalog_apiservice_change", args=[service.pk])
    stale = service_form(service, [])
    # Someone else saves first.
    APIService.objects.filter(pk=service.pk).update(description="theirs")
    service.description = "theirs"
    service.save()
    stale["description"] = "mine"
    response = admin_client.post(url, stale)
    assert response.status_code == 200
    assert "Someone else changed this API service" in response.content.decode()
    service.refresh_from_db()
    assert service.description == "theirs"


def test_route_backend_choices_are_the_services_own(admin_client):
    backend = BackendFactory(name="mine")
    BackendFactory(name="someone-elses")
    response = admin_client.get(
        reverse("admin:catalog_apiservice_change", args=[backend.service.pk])
    )
    choices = (
        response.context["inline_admin_formsets"][1].formset.empty_form.fields["backend"].queryset
    )
    assert list(choices) == [backend]
