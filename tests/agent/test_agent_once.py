"""`manage.py agent --once`: apply the current desired state and exit 0, or exit non-zero
with a one-line reason; configured by flags or by IMPGATEWAY_* variables; the GitOps sink."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

from publishing.services import withdraw
from tests.conftest import REPO_ROOT

from .agent_harness import (
    AGENT_NAMESPACE,
    agent_environment,
    deployment,
    free_port,
    make_cluster,
    make_publish,
    publish_now,
    registration_token,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(120)]



def run_agent(args: list[str], env: dict[str, str] | None = None, timeout: float = 60
              ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "manage.py"), "agent", *args],
        cwd=REPO_ROOT, env=env or agent_environment(), capture_output=True, text=True,
        timeout=timeout,
    )


def reason(result: subprocess.CompletedProcess) -> str:
    """The last line of stderr: the one-line reason of a failed run."""
    lines = result.stderr.strip().splitlines()
    return lines[-1] if lines else ""


def test_once_from_environment_with_control_plane_settings_and_no_database(
    control_plane, simulated, tmp_path
):
    cluster = make_cluster()
    publish = make_publish(cluster, "orders", routes=2)
    publish_now(publish)
    # Every option from the environment; the control plane's own settings module with a
    # database URL that points nowhere: the agent never opens a database connection.
    env = agent_environment(
        DJANGO_SETTINGS_MODULE="impgateway.settings",
        DATABASE_URL="postgres://nobody@database.invalid:1/none",
        IMPGATEWAY_SERVER=control_plane.url,
        IMPGATEWAY_REGISTRATION_TOKEN=registration_token(cluster),
        IMPGATEWAY_TOKEN_FILE=str(tmp_path / "token.json"),
        IMPGATEWAY_KUBECONFIG=str(simulated.kubeconfig),
        IMPGATEWAY_NAMESPACE=AGENT_NAMESPACE,
        IMPGATEWAY_AGENT_NAME="agent-once",
        IMPGATEWAY_ONCE="true",
        IMPGATEWAY_METRICS_PORT="0",
        IMPGATEWAY_LOG_FORMAT="json",
    )
    result = run_agent([], env)
    assert result.returncode == 0, result.stderr
    routes = [key for key in simulated.publish_objects(publish.pk) if key[0] == "HTTPRoute"]
    assert len(routes) == 2
    status = deployment(publish.pk)
    assert status.applied_revision == 1 and status.state == "Applying", status.state
    assert '"event": "reconcile"' in result.stderr
    lease = simulated.sim.get_object("coordination.k8s.io/v1", "Lease", AGENT_NAMESPACE,
                                     "imp-gateway-agent")
    assert not lease["spec"].get("holderIdentity")

    # A second run reuses the stored access token (the registration token is used up) and
    # changes nothing.
    before = {key: item["metadata"]["resourceVersion"]
              for key, item in simulated.publish_objects(publish.pk).items()}
    again = run_agent([], env)
    assert again.returncode == 0, again.stderr
    assert "event=registered" not in again.stderr and '"registered"' not in again.stderr
    after = {key: item["metadata"]["resourceVersion"]
             for key, item in simulated.publish_objects(publish.pk).items()}
    assert after == before


def test_once_fails_with_one_line_reasons(control_plane, simulated, tmp_path):
    cluster = make_cluster()
    base = ["--once", "--kubeconfig", str(simulated.kubeconfig), "--namespace", AGENT_NAMESPACE,
            "--metrics-port", "0", "--name", "agent-once"]

    unreachable = run_agent(
        [*base, "--server", f"http://127.0.0.1:{free_port()}", "--registration-token", "igr_x"])
    assert unreachable.returncode != 0
    assert reason(unreachable).startswith("CommandError: registration: unreachable"), (
        unreachable.stderr)

    invalid = run_agent([*base, "--server", control_plane.url, "--registration-token",
                         "igr_not-a-real-token"])
    assert invalid.returncode != 0
    assert reason(invalid).startswith("CommandError: registration: HTTP 401 "
                                      "invalid_registration_token"), invalid.stderr

    token = registration_token(cluster)
    no_cluster = run_agent(["--once", "--server", control_plane.url, "--registration-token",
                            token, "--kubeconfig", str(tmp_path / "missing.yaml"),
                            "--metrics-port", "0"])
    assert no_cluster.returncode != 0
    assert reason(no_cluster).startswith("CommandError: no Kubernetes credentials"), (
        no_cluster.stderr)

    missing = run_agent(["--once", "--registration-token", token])
    assert missing.returncode != 0
    assert reason(missing) == (
        "CommandError: --server / IMPGATEWAY_SERVER: the control plane URL is required")
    for result in (unreachable, invalid, no_cluster, missing):
        assert token not in result.stderr and "igr_not-a-real-token" not in result.stderr


def test_output_dir_writes_and_removes_files(control_plane, simulated, tmp_path):
    cluster = make_cluster()
    orders = make_publish(cluster, "orders", routes=2)
    billing = make_publish(cluster, "billing", routes=1)
    publish_now(orders)
    publish_now(billing)
    output = tmp_path / "gitops"
    args = ["--once", "--server", control_plane.url, "--registration-token",
            registration_token(cluster), "--token-file", str(tmp_path / "token.json"),
            "--kubeconfig", str(simulated.kubeconfig), "--namespace", AGENT_NAMESPACE,
            "--metrics-port", "0", "--output-dir", str(output), "--name", "agent-gitops"]
    first = run_agent(args)
    assert first.returncode == 0, first.stderr
    files = sorted(str(path.relative_to(output)) for path in output.rglob("*.yaml"))
    assert f"publish-{orders.pk}/gateway-orders-dev-{orders.pk}.yaml" in files
    assert sum(name.startswith(f"publish-{orders.pk}/httproute-") for name in files) == 2
    documents = [yaml.safe_load(path.read_text()) for path in output.rglob("*.yaml")]
    assert all(document["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "imp-gateway"
               for document in documents)
    # Nothing was applied to the cluster.
    assert simulated.publish_objects(orders.pk) == {}
    assert deployment(orders.pk).applied_revision == 1
    mtimes = {path: path.stat().st_mtime_ns for path in output.rglob("*.yaml")}

    withdraw(orders)
    second = run_agent(args)
    assert second.returncode == 0, second.stderr
    assert not (output / f"publish-{orders.pk}").exists()
    assert deployment(orders.pk) is None
    # The other publish's files were not rewritten (deterministic names and content).
    remaining = {path: path.stat().st_mtime_ns for path in output.rglob("*.yaml")}
    assert remaining and all(mtimes[path] == mtime for path, mtime in remaining.items())
