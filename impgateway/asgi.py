"""ASGI entry point: `python -m uvicorn impgateway.asgi:application`.

Requests to the agent API (`/api/v1/agent/`) go to a Django handler with a short middleware
chain. Agents carry bearer tokens, not sessions: session, CSRF, locale, auth and message
middleware do nothing for them, yet each of those moves every request onto a thread and back,
which is most of the cost of answering a thousand woken long-polls at once. Async agent views
(the desired-state long-poll) also run without the thread Django gives every request for its
sync work: a waiting agent holds a coroutine and nothing else.
"""

from __future__ import annotations

import os
from functools import lru_cache

import django
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.urls import Resolver404, get_resolver

from clusters.protocol import AGENT_API_PREFIX
from impgateway.runtime import tune_garbage_collector

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "impgateway.settings")
django.setup(set_prefix=False)

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

    async def __call__(self, scope, receive, send) -> None:
        if serves_async_view(scope["path"]):
            # Django wraps each request in a ThreadSensitiveContext, which starts a thread for
            # the request's sync steps (the request_started and request_finished signals) and
            # keeps it until the response is sent: a thread parked per waiting long-poll. Without
            # it those few steps share asgiref's one sync thread; the view itself is async.
            await self.handle(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


@lru_cache(maxsize=64)
def serves_async_view(path: str) -> bool:
    """Whether `path` resolves to an async view (agent API paths only reach this)."""
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return False
    return iscoroutinefunction(match.func)


console_application = ASGIHandler()
agent_application = AgentASGIHandler()


async def application(scope, receive, send) -> None:
    """Route agent API requests to the lean handler and everything else to the console's."""
    if scope["type"] == "lifespan":
        await lifespan(receive, send)
    elif scope["type"] == "http" and scope["path"].startswith(AGENT_API_PREFIX):
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
