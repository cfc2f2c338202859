from django.apps import AppConfig


class ImpGatewayConfig(AppConfig):
    name = "impgateway"
    verbose_name = "Imp-Gateway"
