"""kubesim: a Kubernetes API server emulated in-process, for tests and trials.

Serves discovery, OpenAPI, the CRDs of a directory plus the built-in kinds controllers use,
with create, read, update, delete, the three patch types and server-side apply (managedFields,
conflicts, force), resourceVersion and generation rules, the status subresource, list and watch
as client-go informers use them (streaming lists, bookmarks, 410 Gone, pagination), validation
(schemas and CEL) and Table output, so that the official clients, kubectl and client-go
controllers work against it unchanged. It imports nothing of the project and no Django; run it
with ``python -m kubesim``.
"""

from .cluster import SimCluster

__all__ = ["SimCluster"]
