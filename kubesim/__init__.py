"""A Kubernetes API server simulated in-process, for the agent's tests and for trials.

Serves discovery, OpenAPI, the CRDs of a directory plus the built-in kinds the agent uses,
with create, read, update, delete, the three patch types and server-side apply (managedFields,
conflicts, force), resourceVersion and generation rules, the status subresource, validation
and Table output, so that the official client and kubectl work against it unchanged.
It needs no Django settings; ``manage.py simcluster`` is a thin wrapper.
"""

from .cluster import SimCluster

__all__ = ["SimCluster"]
