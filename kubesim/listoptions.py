"""ListOptions as the API server reads them from a list or watch query, defaults and validates
them, and the continue tokens of paginated lists.

Sources (tag v0.36.3): k8s.io/apimachinery pkg/runtime/conversion.go (query parameter
conversion), pkg/apis/meta/internalversion/defaults.go ``SetListOptionsDefaults`` and
validation/validation.go ``ValidateListOptions`` (the WatchList feature is on in 1.36,
k8s.io/apiserver pkg/features/kube_features.go), k8s.io/apiserver pkg/storage/continue.go
(tokens) and pkg/storage/interfaces.go ``ValidateListOptions`` (continue with a
resourceVersion).
"""

from __future__ import annotations

import base64
import json
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass

from . import errors
from .errors import APIError
from .schema import fielderrors, invalid_status

NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"
INITIAL_EVENTS_ANNOTATION = "k8s.io/initial-events-end"


@dataclass
class ListOptions:
    label_selector: str = ""
    field_selector: str = ""
    watch: bool = False
    allow_watch_bookmarks: bool = False
    resource_version: str = ""
    resource_version_match: str = ""
    timeout_seconds: int | None = None
    limit: int = 0
    continue_token: str = ""
    send_initial_events: bool | None = None

    @property
    def watch_list(self) -> bool:
        """A streaming list: initial events closed by the initial-events-end bookmark
        (``isListWatchRequest`` in pkg/endpoints/handlers/get.go)."""
        return bool(self.send_initial_events) and self.allow_watch_bookmarks


def _flag(value: str) -> bool:
    # Convert_Slice_string_To_bool: only "0" and "false" (any case) are false once given.
    return not (value == "0" or value.lower() == "false")


def _integer(name: str, value: str) -> int:
    try:
        return int(value, 10)
    except ValueError:
        raise errors.bad_request(f'strconv.ParseInt: parsing "{value}": invalid syntax') from None


def parse(query: Mapping[str, str], *, watch: bool = False) -> ListOptions:
    """The query's ListOptions, defaulted and validated; ``watch``: a /watch/ URL."""
    options = ListOptions(
        label_selector=query.get("labelSelector", ""),
        field_selector=query.get("fieldSelector", ""),
        watch=watch or ("watch" in query and _flag(query["watch"])),
        allow_watch_bookmarks=("allowWatchBookmarks" in query
                               and _flag(query["allowWatchBookmarks"])),
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=query.get("resourceVersionMatch", ""),
        continue_token=query.get("continue", ""),
    )
    if "timeoutSeconds" in query:
        options.timeout_seconds = _integer("timeoutSeconds", query["timeoutSeconds"])
    if "limit" in query:
        options.limit = _integer("limit", query["limit"])
    if "sendInitialEvents" in query:
        options.send_initial_events = _flag(query["sendInitialEvents"])
    _set_defaults(options)
    problems = _validate(options)
    if problems:
        raise errors.from_status(invalid_status("meta.k8s.io", "ListOptions", "", problems))
    return options


def _set_defaults(options: ListOptions) -> None:
    """SetListOptionsDefaults: a watch from "" or "0" that asks nothing else streams the
    current state first (sendInitialEvents=true, resourceVersionMatch=NotOlderThan)."""
    if options.send_initial_events is not None or options.resource_version_match:
        return
    if options.watch and options.resource_version in ("", "0"):
        options.send_initial_events = True
        options.resource_version_match = NOT_OLDER_THAN


def _validate(options: ListOptions) -> list[fielderrors.FieldError]:
    """ValidateListOptions with the WatchList feature enabled."""
    found: list[fielderrors.FieldError] = []
    match = options.resource_version_match
    if options.watch:
        if options.send_initial_events is not None and match != NOT_OLDER_THAN:
            found.append(fielderrors.forbidden(
                "resourceVersionMatch",
                f"sendInitialEvents requires setting resourceVersionMatch to {NOT_OLDER_THAN}"))
        if match:
            if options.send_initial_events is None:
                found.append(fielderrors.forbidden(
                    "resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless "
                    "sendInitialEvents is provided"))
            if match != NOT_OLDER_THAN:
                found.append(fielderrors.not_supported("resourceVersionMatch", match,
                                                       [NOT_OLDER_THAN]))
            if options.continue_token:
                found.append(fielderrors.forbidden(
                    "resourceVersionMatch",
                    "resourceVersionMatch is forbidden when continue is provided"))
        return found
    if match:
        if not options.resource_version:
            found.append(fielderrors.forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden unless resourceVersion is provided"))
        if options.continue_token:
            found.append(fielderrors.forbidden(
                "resourceVersionMatch",
                "resourceVersionMatch is forbidden when continue is provided"))
        if match not in (EXACT, NOT_OLDER_THAN):
            found.append(fielderrors.not_supported("resourceVersionMatch", match,
                                                   [EXACT, NOT_OLDER_THAN, ""]))
        if match == EXACT and options.resource_version == "0":
            found.append(fielderrors.forbidden(
                "resourceVersionMatch",
                'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
    if options.send_initial_events is not None:
        found.append(fielderrors.forbidden("sendInitialEvents",
                                           "sendInitialEvents is forbidden for list"))
    return found


def resource_version_number(text: str) -> int:
    """A resourceVersion as a number ("" and "0" are 0), or 400 Bad Request."""
    if text in ("", "0"):
        return 0
    if not text.isdigit():
        raise errors.bad_request(f"invalid resource version: {text}")
    return int(text)


# continue tokens ---------------------------------------------------------------------------
def encode_continue(start_key: str, revision: int) -> str:
    """EncodeContinue: the key to start after (relative to the list's key prefix, with the
    ``\\x00`` that makes it the next key) and the revision to read at; base64url, no padding."""
    payload = json.dumps({"v": "meta.k8s.io/v1", "rv": revision, "start": start_key},
                         separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def decode_continue(token: str) -> tuple[str, int]:
    """DecodeContinue: (start key, revision); revision -1 means "at the latest"."""
    def invalid(detail: str) -> APIError:
        return errors.bad_request(f"invalid continue token: continue key is not valid{detail}")

    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid(f": {error}") from None
    if not isinstance(data, dict):
        raise invalid(": not an object")
    if data.get("v") != "meta.k8s.io/v1":
        raise errors.bad_request(
            "invalid continue token: continue key is not valid: server does not recognize "
            f"this encoded version {data.get('v')}")
    revision, start = data.get("rv"), data.get("start")
    if not isinstance(revision, int) or revision == 0:
        raise invalid(": incorrect encoded start resourceVersion (version meta.k8s.io/v1)")
    if not isinstance(start, str) or not start:
        raise invalid(": encoded start key empty (version meta.k8s.io/v1)")
    # Defend against keys that climb out of the list's prefix, as path.Clean does there.
    key = start if start.startswith("/") else "/" + start
    if posixpath.normpath(key) != key:
        raise invalid(f": {start}")
    return key[1:], revision
