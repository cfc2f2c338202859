"""Content negotiation: which representation the client's Accept header asks for.

JSON and YAML, and the meta.k8s.io views (Table, PartialObjectMetadata[List]) that kubectl
and metadata informers ask for. A client that prefers protobuf (client-go with
``ContentType: application/vnd.kubernetes.protobuf`` sends ``Accept:
application/vnd.kubernetes.protobuf, */*``; kubectl adds ``application/json``) is answered in
JSON, which it accepts and decodes by the response's Content-Type, as for custom resources on
a real server (k8s.io/apiserver pkg/endpoints/handlers/negotiation/negotiate.go
``NegotiateOutputMediaType`` takes the first acceptable entry in order).
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import errors


@dataclass
class Output:
    """How the client asked to see objects: plain JSON or YAML, or a meta.k8s.io view."""

    media: str = "application/json"
    view: str = ""  # "", "Table", "PartialObjectMetadata", "PartialObjectMetadataList"
    view_version: str = "v1"

    @property
    def partial(self) -> bool:
        return self.view in ("PartialObjectMetadata", "PartialObjectMetadataList")


def media_params(entry: str) -> dict[str, str]:
    """One Accept entry: its type (as "type") and parameters, without the quality."""
    parts = [p.strip() for p in entry.split(";")]
    params = {"type": parts[0].lower()}
    for part in parts[1:]:
        key, _, value = part.partition("=")
        if key.strip() != "q":
            params[key.strip()] = value.strip()
    return params


def negotiate(accept: str) -> Output:
    """Pick the first acceptable media type in the Accept header, as the server does."""
    if not accept.strip():
        return Output()
    for entry in accept.split(","):
        params = media_params(entry)
        media = params["type"]
        view = params.get("as", "")
        if view:
            if (media == "application/json" and params.get("g") == "meta.k8s.io"
                    and params.get("v") in ("v1", "v1beta1")
                    and view in ("Table", "PartialObjectMetadata",
                                 "PartialObjectMetadataList")):
                return Output("application/json", view, params["v"])
            continue
        if media in ("application/json", "*/*", "application/*"):
            return Output()
        if media in ("application/yaml", "application/x-yaml"):
            return Output("application/yaml")
    raise errors.not_acceptable(["application/json", "application/yaml"])
