"""`manage.py create_registration_token <cluster> [--ttl 1h]`: a one-time agent registration
token, printed alone on the last line of stdout so scripts can take it with `tail -n 1`."""

from __future__ import annotations

import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from clusters.models import Cluster
from clusters.services import create_registration_token

_DURATION = re.compile(r"(\d+)([smhd])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> timedelta:
    """`90`, `90s`, `30m`, `1h`, `2d` or combinations such as `1h30m`."""
    value = text.strip().lower()
    if value.isdigit():
        return timedelta(seconds=int(value))
    if not value or _DURATION.sub("", value):
        raise ValueError(f"--ttl: expected a duration such as 30m, 1h or 2d, got {text!r}")
    seconds = sum(int(amount) * _UNIT_SECONDS[unit] for amount, unit in _DURATION.findall(value))
    return timedelta(seconds=seconds)


class Command(BaseCommand):
    help = "Create a one-time registration token for a cluster's agent; prints it last."

    def add_arguments(self, parser) -> None:
        parser.add_argument("cluster", help="The cluster's name, e.g. kr-seoul-prod.")
        parser.add_argument(
            "--ttl",
            default=None,
            help="How long the token stays valid: 30m, 1h, 2d (default: "
            "AGENT_REGISTRATION_TOKEN_TTL seconds).",
        )
        parser.add_argument("--description", default="", help="A note for other operators.")

    def handle(self, *args, **options) -> None:
        cluster = Cluster.objects.filter(name=options["cluster"]).first()
        if cluster is None:
            known = ", ".join(Cluster.objects.values_list("name", flat=True)[:20]) or "none"
            raise CommandError(f"cluster: no cluster named {options['cluster']!r} (known: {known})")
        ttl = None
        if options["ttl"] is not None:
            try:
                ttl = parse_duration(options["ttl"])
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            if ttl <= timedelta(0) or ttl > timedelta(days=30):
                raise CommandError("--ttl: must be more than 0 and at most 30 days")
        token, secret = create_registration_token(
            cluster, ttl=ttl, description=options["description"][:200]
        )
        self.stdout.write(
            f"Registration token #{token.pk} for cluster {cluster.name}, valid until "
            f"{token.expires_at.isoformat()} and for one registration. It is shown only once:"
        )
        self.stdout.write(secret)
