from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from catalog.models import APIService, Gateway, Product, Tenant
from clusters.models import Cluster
from publishing.models import ProductPublish

pytestmark = pytest.mark.django_db


def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo", "--password", "demo-pass-123")
    first = capsys.readouterr().out
    assert "Superuser created: admin / demo-pass-123" in first
    call_command("seed_demo")
    second = capsys.readouterr().out
    assert "exists already" in second
    assert Tenant.objects.count() == 1
    assert APIService.objects.count() == 3
    assert Product.objects.count() == 1
    assert Gateway.objects.count() == 2
    assert Cluster.objects.count() == 2
    assert ProductPublish.objects.count() == 3
    assert get_user_model().objects.get(username="admin").check_password("demo-pass-123")


def test_seed_demo_reproduces_the_multi_cluster_example():
    call_command("seed_demo", "--password", "x-demo-pass")
    publishes = {
        (p.cluster.name, p.environment): sorted(s.name for s in p.api_services.all())
        for p in ProductPublish.objects.all()
    }
    assert publishes == {
        ("cluster-kr-seoul", "prod"): ["payment-service", "refund-service"],
        ("cluster-us-virginia", "prod"): ["payment-service", "refund-service"],
        ("cluster-kr-seoul", "dev"): ["debug-service", "payment-service", "refund-service"],
    }
    kr_prod = ProductPublish.objects.get(cluster__name="cluster-kr-seoul", environment="prod")
    assert kr_prod.hostnames == ["payment-api.prod.kr-seoul.api.imprun.dev"]
    assert Cluster.objects.get(name="cluster-us-virginia").region == "us-virginia"
