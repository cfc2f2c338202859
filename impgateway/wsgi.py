"""WSGI entry point for servers that do not speak ASGI (long-polls then hold a thread each)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")

application = get_wsgi_application()
