"""URLs of the agent API, mounted at /api/v1/agent/."""

from django.urls import path

from . import views

app_name = "agent-api"

urlpatterns = [
    path("register", views.RegisterView.as_view(), name="register"),
    path("token/refresh", views.TokenRefreshView.as_view(), name="token-refresh"),
    path("desired-state", views.desired_state, name="desired-state"),
    path("status", views.StatusView.as_view(), name="status"),
    path("heartbeat", views.HeartbeatView.as_view(), name="heartbeat"),
]
