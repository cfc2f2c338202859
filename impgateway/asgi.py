"""ASGI entry point: `python -m uvicorn impgateway.asgi:application`.

Requests to the agent API (`/api/v1/agent/`) go to a Django handler with a short middleware
chain. Agents carry bearer tokens, not sessions: session, CSRF, locale, auth and message
middleware do nothing for them, yet each of those moves every request onto a thread and back,
which is most of the cost of answering a thousand woken long-polls at once.
"""

from __future__ import annotations

import os

import django
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler

from impgateway.runtime import tune_garbage_collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")
django.setup(set_prefix=False)

AGENT_PATH_PREFIX = "/api/v1/agent/"
# Only natively async middleware: one sync middleware would give every waiting long-poll a
# thread of its own for as long as it waits. HTTPS redirects and HSTS are the console's
# concern; agents are configured with the https:// URL.
AGENT_MIDDLEWARE = ["impgateway.metrics.RequestMetricsMiddleware"]


class AgentASGIHandler(ASGIHandler):
    """Django's ASGI handler with the agent API's middleware chain instead of the console's."""

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE; swap it only while this handler builds its
        # chain, at import time, before any request is served.
        console_middleware = settings.MIDDLEWARE
        settings.MIDDLEWARE = AGENT_MIDDLEWARE
        try:
            super().load_middleware(is_async=is_async)
        finally:
            settings.MIDDLEWARE = console_middleware


console_application = ASGIHandler()
agent_application = AgentASGIHandler()


async def application(scope, receive, send) -> None:
    """Route agent API requests to the lean handler and everything else to the console's."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http" and scope["path"].startswith(AGENT_PATH_PREFIX):
        await agent_application(scope, receive, send)
    else:
        await console_application(scope, receive, send)


async def lifespan(receive, send) -> None:
    """The ASGI lifespan protocol: once the server has loaded the application and before it
    accepts connections, tune the garbage collector (impgateway.runtime)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            tune_garbage_collector()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
