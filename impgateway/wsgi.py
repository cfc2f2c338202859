"""WSGI entry point for servers that do not speak ASGI (long-polls then hold a thread each)."""

import os

from django.core.wsgi import get_wsgi_application

from impgateway.runtime import tune_garbage_collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")

application = get_wsgi_application()
# WSGI has no start-up hook: servers import this module once per worker, before serving.
tune_garbage_collector()
