"""Tenant isolation: Acme and Globex hold objects with the same names; a user of Acme can
neither list, read, change, delete nor reference (as a foreign key in a form or a payload) any
object of Globex, through the admin or the API. Every way in is tried and the leaks counted."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.admin import RelatedFieldListFilter
from django.db import models
from django.urls import reverse
from rest_framework.test import APIClient

from catalog.models import APIService
from impgateway.models import RoleGrant
from impgateway.rbac import REGISTRY

from .test_rbac_matrix import API_MODELS
from .test_rbac_world import World, build_world, grant_role

PERSONAS = [
    ("org-admin", "org"),
    ("api-developer", "org"),
    ("gateway-owner", "gateway"),
    ("business-manager", "product"),
    ("customer-admin", "customer"),
    ("api-consumer", "subscription"),
]
IDS = [f"{role}@{scope}" for role, scope in PERSONAS]


def scoped_models() -> list[type[models.Model]]:
    return [
        model
        for model, model_admin in admin.site._registry.items()
        if model._meta.label_lower in REGISTRY and model._meta.app_label != "auth"
    ]


def globex_pks(world: World, model: type[models.Model]) -> set:
    return {world[key].pk for key in world.keys_of(model) if key.startswith("B.")}


def url(obj_or_model, view: str, *args) -> str:
    opts = obj_or_model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def form_choices(form) -> dict[type[models.Model], set]:
    """The primary keys every model-choice field of a form offers, by model."""
    offered: dict[type[models.Model], set] = {}
    for field in form.fields.values():
        queryset = getattr(field, "queryset", None)
        if queryset is not None:
            offered.setdefault(queryset.model, set()).update(queryset.values_list("pk", flat=True))
    return offered


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "scope"), PERSONAS, ids=IDS)
def test_no_globex_object_reaches_an_acme_user_through_the_admin(role, scope, client):
    world = build_world()
    user = grant_role(world, role, scope)
    client.force_login(user)
    leaks: list[str] = []
    foreign_urls = {
        url(world[key], "change", world[key].pk) for key in world.objects if key.startswith("B.")
    }

    def no_foreign_choices(where: str, form) -> None:
        for model, pks in form_choices(form).items():
            if pks & globex_pks(world, model):
                leaks.append(f"{where}: offers Globex {model._meta.label_lower}")

    for model in scoped_models():
        model_admin = admin.site._registry[model]
        foreign = globex_pks(world, model)
        response = client.get(url(model, "changelist"))
        if response.status_code == 200:
            listed = {obj.pk for obj in response.context["cl"].result_list}
            if listed & foreign:
                leaks.append(f"{model._meta.label_lower} changelist lists Globex objects")
            body = response.content.decode()
            leaks += [f"changelist links {link}" for link in foreign_urls if f'"{link}"' in body]
            for spec in response.context["cl"].filter_specs:
                if isinstance(spec, RelatedFieldListFilter):
                    offered = {pk for pk, _label in spec.lookup_choices}
                    if offered & globex_pks(world, spec.field.related_model):
                        leaks.append(f"{model._meta.label_lower} filter {spec.field_path}")
        response = client.get(url(model, "add"))
        if response.status_code == 200:
            no_foreign_choices(
                f"{model._meta.label_lower} add form", response.context["adminform"].form
            )
        for key in sorted(world.keys_of(model)):
            obj = world[key]
            before = model.objects.filter(pk=obj.pk).values().first()
            change = client.get(url(obj, "change", obj.pk))
            if key.startswith("B."):
                for view in ("change", "delete", "history"):
                    status = client.get(url(obj, view, obj.pk)).status_code
                    if status == 200:
                        leaks.append(f"{key} {view} page opens")
                client.post(url(obj, "change", obj.pk), {"name": "hijacked", "slug": "hijacked"})
                client.post(url(obj, "delete", obj.pk), {"post": "yes"})
                if model.objects.filter(pk=obj.pk).values().first() != before:
                    leaks.append(f"{key} was changed or deleted")
                continue
            if change.status_code != 200:
                continue
            no_foreign_choices(f"{key} change form", change.context["adminform"].form)
            for formset in change.context["inline_admin_formsets"]:
                for form in formset.formset.forms + [formset.formset.empty_form]:
                    no_foreign_choices(f"{key} inline {formset.opts.model._meta.model_name}", form)
        # Autocomplete: what the admin's search boxes would offer.
        for field_name in model_admin.autocomplete_fields:
            remote = model._meta.get_field(field_name).related_model
            response = client.get(
                reverse("admin:autocomplete"),
                {
                    "app_label": model._meta.app_label,
                    "model_name": model._meta.model_name,
                    "field_name": field_name,
                    "term": "",
                },
            )
            if response.status_code == 200:
                offered = {int(item["id"]) for item in response.json()["results"]}
                if offered & globex_pks(world, remote):
                    leaks.append(f"{model._meta.label_lower}.{field_name} autocomplete")
        # Bulk actions with Globex objects slipped into the selection.
        if foreign:
            client.post(
                url(model, "changelist"),
                {"action": "delete_selected", "_selected_action": list(foreign), "post": "yes"},
            )
            if model.objects.filter(pk__in=foreign).count() != len(foreign):
                leaks.append(f"{model._meta.label_lower} bulk delete removed Globex objects")

    # Referencing Globex objects in a form: Acme's service moved to Globex, a route added to
    # Globex's service through Acme's service page.
    service = world["A.service"]
    if user.has_perm("catalog.change_apiservice", service):
        form = {
            "tenant": world["B.tenant"].pk,
            "name": "payments",
            "version": "v1",
            "status": "draft",
            "protocol": "HTTP",
            "seen_updated": APIService.objects.get(pk=service.pk).updated.isoformat(),
        }
        for prefix in ("backends", "routes", "policies"):
            form.update({f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"})
        client.post(url(service, "change", service.pk), form)
        if APIService.objects.get(pk=service.pk).tenant_id != world["A.tenant"].pk:
            leaks.append("Acme's service moved into Globex")
    assert leaks == [], "\n".join(leaks)


@pytest.mark.django_db
@pytest.mark.urls("tests.impgateway.test_rbac_matrix")
@pytest.mark.parametrize(("role", "scope"), PERSONAS, ids=IDS)
def test_no_globex_object_reaches_an_acme_user_through_the_api(role, scope):
    world = build_world()
    user = grant_role(world, role, scope)
    api = APIClient()
    api.force_login(user)
    leaks: list[str] = []
    references = {
        "tenant": world["B.tenant"].pk,
        "service": world["B.service"].pk,
        "backend": world["B.backend"].pk,
        "customer": world["B.c1"].pk,
        "product": world["B.p1"].pk,
        "gateway": world["B.g1"].pk,
        "api_services": [world["B.service"].pk],
        "publish": world["B.pp1"].pk,
    }
    for label, prefix in API_MODELS.items():
        model = apps.get_model(label)
        foreign = globex_pks(world, model)
        response = api.get(f"/test-api/{prefix}/")
        if response.status_code == 200:
            listed = {item["id"] for item in response.json()["results"]}
            if listed & foreign:
                leaks.append(f"{label} list shows Globex objects")
        for pk in foreign:
            before = model.objects.filter(pk=pk).values().first()
            if api.get(f"/test-api/{prefix}/{pk}/").status_code == 200:
                leaks.append(f"{label} #{pk} readable")
            api.patch(f"/test-api/{prefix}/{pk}/", {"name": "hijacked"}, format="json")
            api.delete(f"/test-api/{prefix}/{pk}/")
            if model.objects.filter(pk=pk).values().first() != before:
                leaks.append(f"{label} #{pk} changed or deleted")
        # Creating with Globex objects as references.
        payload = dict(references)
        payload.update({"name": "intruder", "path": "/v1/x", "environment": "staging", "number": 5})
        count = model.objects.count()
        response = api.post(f"/test-api/{prefix}/", payload, format="json")
        if response.status_code == 201 or model.objects.count() != count:
            leaks.append(f"{label} created with Globex references: {payload}")
    # Pointing Acme's objects at Globex's.
    for label, key, change in (
        ("catalog.route", "A.route", {"service": world["B.service"].pk}),
        ("catalog.apiservice", "A.service", {"tenant": world["B.tenant"].pk}),
        ("catalog.subscription", "A.s1", {"product": world["B.p1"].pk}),
        ("publishing.productpublish", "A.pp1", {"gateway": world["B.g1"].pk}),
    ):
        obj = world[key]
        before = type(obj).objects.filter(pk=obj.pk).values().first()
        response = api.patch(f"/test-api/{API_MODELS[label]}/{obj.pk}/", change, format="json")
        if (
            response.status_code == 200
            or type(obj).objects.filter(pk=obj.pk).values().first() != before
        ):
            leaks.append(f"{key} now refers to Globex")
    me = api.get("/api/v1/me/").json()
    if any(grant["tenant"] not in (None, "acme") for grant in me["grants"]):
        leaks.append("/api/v1/me/ shows Globex grants")
    assert RoleGrant.objects.filter(tenant__slug="globex").count() == 1
    assert leaks == [], "\n".join(leaks)
