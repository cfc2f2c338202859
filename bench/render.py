"""Benchmark: snapshot and translate a cluster with 500 publishes x 20 routes.

Run: `.venv/bin/python bench/render.py [--publishes 500] [--routes 20] [--gateway-class C]
[--default-gc]`
Uses a throw-away SQLite database unless DATABASE_URL is set. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--publishes", type=int, default=500)
    parser.add_argument("--routes", type=int, default=20)
    parser.add_argument("--gateway-class", default="envoy-gateway")
    parser.add_argument(
        "--default-gc",
        action="store_true",
        help="keep CPython's garbage-collector settings (to see what tuning them gains)",
    )
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="impgateway-bench-")
    os.environ.setdefault("SQLITE_PATH", os.path.join(workdir, "bench.sqlite3"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    cluster = build_data(args.publishes, args.routes, args.gateway_class)
    # The web server and the agent tune the garbage collector once they have started; do the
    # same here, now that Django is loaded and the data is in place.
    from impgateway.runtime import GC_THRESHOLDS, tune_garbage_collector

    if not args.default_gc:
        tune_garbage_collector()

    from publishing import services
    from publishing.models import ProductPublish
    from publishing.translation import render_manifests

    def snapshot() -> list[dict]:
        publishes = list(services.publish_queryset().filter(cluster=cluster))
        return [services.build_spec(publish) for publish in publishes]

    def translate(specs: list[dict]) -> list[dict]:
        return [
            m
            for number, spec in enumerate(specs, start=1)
            for m in render_manifests(spec, revision=number, capabilities=cluster.capabilities)
        ]

    # Timed runs first; tracemalloc slows Python down, so memory is measured on a second pass.
    started = time.perf_counter()
    specs = snapshot()
    snapshot_seconds = time.perf_counter() - started
    started = time.perf_counter()
    manifests = translate(specs)
    translation_seconds = time.perf_counter() - started

    tracemalloc.start()
    specs = snapshot()
    _current, snapshot_peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    translate(specs)
    _current, translation_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    publishes = specs

    total_routes = sum(len(s["routes"]) for spec in specs for s in spec["services"])
    total = snapshot_seconds + translation_seconds
    print(f"cluster: {cluster.name}, gateway class {args.gateway_class}")
    gc_settings = "CPython defaults" if args.default_gc else f"tuned, thresholds {GC_THRESHOLDS}"
    print(f"garbage collector: {gc_settings}")
    print(f"publishes: {len(publishes)} ({ProductPublish.objects.count()} in the database)")
    print(f"routes: {total_routes}, manifests: {len(manifests)}")
    print(f"snapshot:    {snapshot_seconds * 1000:8.1f} ms  (peak {snapshot_peak / 2**20:.1f} MiB)")
    print(
        f"translation: {translation_seconds * 1000:8.1f} ms  "
        f"(peak {translation_peak / 2**20:.1f} MiB)"
    )
    print(f"whole cluster: {total * 1000:8.1f} ms  (target < 1000 ms)")
    print(f"routes per second: {total_routes / total:,.0f}")


def build_data(publish_count: int, route_count: int, gateway_class: str):
    from catalog.models import (
        APIService,
        Backend,
        Gateway,
        Listener,
        Policy,
        Product,
        Route,
        Tenant,
    )
    from clusters.models import Cluster
    from publishing.models import ProductPublish
    from publishing.translation import CAPABILITY_MATRIX, Feature

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    cluster = Cluster.objects.create(name="bench-cluster", region="bench", cloud_provider="aws")
    gateway = Gateway.objects.create(tenant=tenant, name="bench-gw", gateway_class=gateway_class)
    Listener.objects.create(gateway=gateway, name="http", port=80, protocol="HTTP")
    Listener.objects.create(
        gateway=gateway,
        name="https",
        port=443,
        protocol="HTTPS",
        tls_mode="Terminate",
        certificate_ref="bench-tls",
    )
    products = Product.objects.bulk_create(
        Product(tenant=tenant, name=f"Product {i}", slug=f"product-{i}")
        for i in range(publish_count)
    )
    service_objects = APIService.objects.bulk_create(
        APIService(tenant=tenant, name=f"service-{i}") for i in range(publish_count)
    )
    # Backend settings the class can express (Traefik has no backend timeouts or health
    # checks on Gateway API backends, NGINX Gateway Fabric no retries or health checks).
    supported = CAPABILITY_MATRIX[gateway_class]
    backend_settings = {}
    if supported[Feature.BACKEND_TIMEOUT].supported:
        backend_settings["timeout_seconds"] = 10
    if supported[Feature.RETRIES].supported:
        backend_settings["retry_attempts"] = 2
    if supported[Feature.HEALTH_CHECKS].supported:
        backend_settings["health_check_path"] = "/healthz"
    backends = Backend.objects.bulk_create(
        Backend(
            service=s, name="upstream", endpoints=[f"svc-{s.pk}.bench.svc:8080"], **backend_settings
        )
        for s in service_objects
    )
    Route.objects.bulk_create(
        Route(
            service=b.service,
            backend=b,
            name=f"route-{r}",
            path=f"/v1/resource-{r}",
            methods=["GET", "POST"],
        )
        for b in backends
        for r in range(route_count)
    )
    Policy.objects.bulk_create(
        Policy(
            service=s, name="limit", kind="rate_limit", config={"requests": 100, "unit": "Minute"}
        )
        for s in service_objects
    )
    publishes = ProductPublish.objects.bulk_create(
        ProductPublish(
            tenant=tenant,
            product=p,
            gateway=gateway,
            cluster=cluster,
            environment="prod",
            status="PUBLISHED",
        )
        for p in products
    )
    through = ProductPublish.api_services.through
    through.objects.bulk_create(
        through(productpublish_id=p.pk, apiservice_id=s.pk)
        for p, s in zip(publishes, service_objects, strict=True)
    )
    return cluster


if __name__ == "__main__":
    main()
