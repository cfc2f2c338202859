"""The customer API's router, mounted under /api/v1/ by impgateway/urls.py."""

from rest_framework.routers import DefaultRouter

from .customers import APIKeyViewSet, CatalogProductViewSet, CustomerViewSet, SubscriptionViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("catalog", CatalogProductViewSet, basename="customer-catalog")
router.register("customers", CustomerViewSet, basename="customer")
router.register("subscriptions", SubscriptionViewSet, basename="subscription")
router.register("api-keys", APIKeyViewSet, basename="api-key")

urlpatterns = router.urls
