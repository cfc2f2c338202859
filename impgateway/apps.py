from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class ImpGatewayConfig(AppConfig):
    name = "impgateway"
    verbose_name = "Imp-Gateway"


class ConsoleAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the console's site (impgateway.admin_site.ConsoleSite)."""

    default = False  # named in INSTALLED_APPS; not the impgateway app's own config
    default_site = "impgateway.admin_site.ConsoleSite"
