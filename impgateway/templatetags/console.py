"""Template tags of the console's own pages: the dashboard on the admin index."""

from __future__ import annotations

from typing import Any

from django import template

from impgateway.dashboard import dashboard

register = template.Library()


@register.simple_tag(takes_context=True)
def console_dashboard(context: template.Context) -> dict[str, Any]:
    """The dashboard's data for the signed-in user."""
    return dashboard(context["request"].user)
