"""Provider API of publishing; impgateway/api_urls.py mounts its router at /api/v1/."""

from rest_framework import routers

from . import views

router = routers.SimpleRouter()
router.register("publishes", views.ProductPublishViewSet)

urlpatterns = router.urls
