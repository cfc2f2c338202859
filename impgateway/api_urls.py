"""The REST API at /api/v1/: one root listing the provider (catalog, publishing), operator
(clusters) and customer endpoints, each app's router registered here."""

from rest_framework import routers

from catalog.api import customer_urls
from catalog.api import urls as catalog_urls
from clusters.api import operator_urls
from publishing.api import urls as publishing_urls

router = routers.DefaultRouter()
router.include_format_suffixes = False
for app_router in (
    catalog_urls.router,
    publishing_urls.router,
    operator_urls.router,
    customer_urls.router,
):
    router.registry.extend(app_router.registry)

urlpatterns = router.urls
