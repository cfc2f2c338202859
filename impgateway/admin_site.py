"""The console's admin site: Django's, branded, and recording every change made through one of
its pages as coming from the console (impgateway/audit.py)."""

from __future__ import annotations

import functools

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from . import audit


class ConsoleSite(admin.AdminSite):
    """`django.contrib.admin.site` in this project (impgateway.apps.ConsoleAdminConfig)."""

    site_header = _("Imp-Gateway")
    site_title = _("Imp-Gateway console")
    index_title = _("API gateway management")

    def admin_view(self, view, cacheable=False):
        # Every page of the console passes here, model admins' own views included: whatever
        # service a page calls records its change with the console as the source.
        checked = super().admin_view(view, cacheable)

        @functools.wraps(checked)
        def console_view(request, *args, **kwargs):
            with audit.acting_through(audit.AuditSource.CONSOLE):
                return checked(request, *args, **kwargs)

        return console_view
