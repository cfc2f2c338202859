"""Fixtures of the agent's in-process tests: one simulated cluster with the real CRDs per
module, a client for it, and a fresh namespace per test."""

from __future__ import annotations

import pytest

from agent.kube import KubeClient, connect
from kubesim import SimCluster


@pytest.fixture(scope="module")
def sim(crd_dir):
    cluster = SimCluster(crd_dir)
    cluster.start()
    yield cluster
    cluster.stop()


@pytest.fixture
def kube(sim, tmp_path) -> KubeClient:
    client = connect(sim.write_kubeconfig(tmp_path / "kubeconfig.yaml"))
    yield client
    client.close()


_namespaces = iter(range(1, 10_000))


@pytest.fixture
def namespace(kube) -> str:
    """A fresh namespace per test: tests share one simulated cluster."""
    name = f"test-{next(_namespaces)}"
    kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
               field_manager="test-setup")
    return name
