"""ASGI entry point: `python -m uvicorn impgateway.asgi:application`."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")

application = get_asgi_application()
