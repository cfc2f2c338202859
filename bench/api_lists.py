"""Benchmark: list latency of the provider API with 10,000 API services, at page size 50.

Run: `.venv/bin/python bench/api_lists.py [--services 10000] [--requests 200]`
Uses a throw-away SQLite database unless DATABASE_URL is set (then it must be a database you
can fill and empty). Prints p50/p95 per endpoint and caller and the queries per request;
asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--services", type=int, default=10_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="impgateway-bench-")
    os.environ.setdefault("SQLITE_PATH", os.path.join(workdir, "bench.sqlite3"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    settings.ALLOWED_HOSTS = ["*"]
    call_command("migrate", verbosity=0)
    callers = build_data(args.services)
    if connection.vendor == "postgresql":
        # A live database has planner statistics (autovacuum gathers them); a freshly filled
        # one has none yet.
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    from impgateway.runtime import tune_garbage_collector

    # As the web server does once started (impgateway.runtime); it also freezes the large heap
    # that building 10,000 services left in this process, which a web process would not hold.
    tune_garbage_collector()

    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    print(f"{args.services} API services, page size 50, {connection.vendor}")
    for label, user in callers.items():
        client = APIClient()
        client.force_login(user)
        for url in ("/api/v1/api-services/", "/api/v1/api-services/?status=active&ordering=-name"):
            client.get(url)  # warm caches
            timings = []
            for _ in range(args.requests):
                start = time.perf_counter()
                response = client.get(url)
                timings.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200, response.content
            with CaptureQueriesContext(connection) as queries:
                count = client.get(url).json()["count"]
            timings.sort()
            p95 = timings[int(len(timings) * 0.95) - 1]
            print(
                f"  {label:<14} {url:<52} rows={count:<6} "
                f"p50={statistics.median(timings):6.1f} ms  p95={p95:6.1f} ms  "
                f"queries={len(queries.captured_queries)}"
            )


def build_data(services: int) -> dict:
    """Two tenants sharing the services; an org admin of one and a system admin."""
    from django.contrib.auth import get_user_model

    from catalog.models import APIService, Backend, Policy, Route, Tenant
    from impgateway import rbac
    from impgateway.models import RoleGrant

    acme = Tenant.objects.create(name="Acme", slug="acme")
    globex = Tenant.objects.create(name="Globex", slug="globex")
    rows = [
        APIService(
            tenant=acme if n % 2 else globex,
            name=f"service-{n}",
            status="active" if n % 3 else "draft",
        )
        for n in range(services)
    ]
    APIService.objects.bulk_create(rows, batch_size=2000)
    created = list(APIService.objects.order_by("pk"))
    Backend.objects.bulk_create(
        [Backend(service=s, name="main", endpoints=["upstream:80"]) for s in created],
        batch_size=2000,
    )
    Route.objects.bulk_create(
        [Route(service=s, name="root", path="/") for s in created], batch_size=2000
    )
    Policy.objects.bulk_create(
        [
            Policy(service=s, name="limit", kind="rate_limit", config={"requests": 1})
            for s in created
        ],
        batch_size=2000,
    )
    users = get_user_model().objects
    org_admin = users.create_user("org-admin", is_staff=True)
    system_admin = users.create_user("system-admin", is_staff=True)
    for grant in (
        RoleGrant(user=org_admin, role="org-admin", scope="org", tenant=acme),
        RoleGrant(user=system_admin, role="system-admin", scope="system"),
    ):
        rbac.save_object(grant)
    return {"org-admin": org_admin, "system-admin": system_admin}


if __name__ == "__main__":
    main()
