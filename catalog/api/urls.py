"""Provider API of the catalog; impgateway/api_urls.py mounts its router at /api/v1/."""

from rest_framework import routers

from . import views

router = routers.SimpleRouter()
router.register("api-services", views.APIServiceViewSet)
router.register("backends", views.BackendViewSet)
router.register("routes", views.RouteViewSet)
router.register("policies", views.PolicyViewSet)
router.register("products", views.ProductViewSet)
router.register("gateways", views.GatewayViewSet)
router.register("listeners", views.ListenerViewSet)

urlpatterns = router.urls
