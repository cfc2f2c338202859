"""The REST API's JSON parser (settings.REST_FRAMEWORK, and the agent endpoints'). Its own
module: DRF imports the configured parsers while it is itself being imported."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import exceptions
from rest_framework.parsers import JSONParser

from .validators import MAX_JSON_DEPTH, json_problem


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing with 400 what would otherwise fail deeper as a 500: JSON
    nested past MAX_JSON_DEPTH (the decoder's own recursion limit is ~1,000 levels), and
    strings with NUL or unpaired surrogates, which PostgreSQL cannot store. The message names
    where in the document the problem is."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise exceptions.ParseError(
                _("JSON parse error - nested deeper than %(depth)s levels")
                % {"depth": MAX_JSON_DEPTH}
            ) from None
        problem = json_problem(data)
        if problem:
            where, rule = problem
            raise exceptions.ParseError(
                _("JSON parse error - %(where)s: %(rule)s") % {"where": where, "rule": rule}
            )
        return data
