"""Operator API (the agents' own API is clusters/api/urls.py); impgateway/api_urls.py
mounts its router at /api/v1/."""

from rest_framework import routers

from . import operator_views as views

router = routers.SimpleRouter()
router.register("clusters", views.ClusterViewSet)
router.register("agents", views.AgentViewSet)
router.register("registration-tokens", views.RegistrationTokenViewSet)

urlpatterns = router.urls
