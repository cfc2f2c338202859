"""`manage.py agent`: run the in-cluster agent (see docs/agent.md).

Thin on purpose: options come from agent.config, the work from agent.runner. It needs no
database and imports no models; `DJANGO_SETTINGS_MODULE=agent.settings` runs it without the
control plane's settings at all.
"""

from __future__ import annotations

import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from agent import config, logs
from agent.runner import AgentExit, build_agent
from impgateway.runtime import tune_garbage_collector


class Command(BaseCommand):
    help = (
        "Run the Imp-Gateway agent: register with the control plane, follow the cluster's "
        "desired state and apply it with Server-Side Apply (or write it to --output-dir)."
    )
    requires_system_checks: list[str] = []
    requires_migrations_checks = False

    def add_arguments(self, parser: CommandParser) -> None:
        config.add_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            settings = config.resolve(options)
        except config.ConfigError as exc:
            raise CommandError(str(exc)) from None
        logs.configure(settings.log_format, settings.log_level)
        try:
            agent = build_agent(settings)
            tune_garbage_collector()
            signal.signal(signal.SIGTERM, lambda signum, frame: agent.stop())
            signal.signal(signal.SIGINT, lambda signum, frame: agent.stop())
            if settings.once:
                agent.run_once()
            else:
                agent.run()
        except AgentExit as exc:
            raise CommandError(" ".join(str(exc).split())) from None
