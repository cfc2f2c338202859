"""render_publish and render_cluster print apply-ready manifests, or one line and exit 1."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from impgateway.demo import create_demo_data
from publishing.models import ProductPublish
from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo():
    return create_demo_data()


def test_render_cluster_json_lists_gateways_and_routes_for_both_environments(demo, capsys):
    call_command("render_cluster", "cluster-kr-seoul", "-o", "json")
    manifests = json.loads(capsys.readouterr().out)
    kinds = {m["kind"] for m in manifests}
    assert {"Gateway", "HTTPRoute"} <= kinds
    hostnames = {h for m in manifests if m["kind"] == "HTTPRoute" for h in m["spec"]["hostnames"]}
    assert "payment-api.prod.kr-seoul.api.imprun.dev" in hostnames
    assert "payment-api.dev.kr-seoul.api.imprun.dev" in hostnames
    for manifest in manifests:
        assert manifest["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "imp-gateway"


def test_render_publish_yaml_is_multi_document(demo, capsys):
    publish = ProductPublish.objects.get(cluster__name="cluster-us-virginia")
    call_command("render_publish", str(publish.pk))
    text = capsys.readouterr().out
    documents = [d for d in yaml.safe_load_all(text) if d]
    assert text.startswith("---\n")
    assert any(d["kind"] == "Gateway" for d in documents)
    assert all(
        d["metadata"]["labels"]["imp-gateway.io/publish"] == str(publish.pk) for d in documents
    )
    call_command("render_publish", str(publish.pk), "--revision", "1", "-o", "json")
    assert json.loads(capsys.readouterr().out) == documents


def test_unknown_ids_and_names_are_one_line_errors(demo):
    with pytest.raises(CommandError, match="cluster 'nowhere': no such cluster"):
        call_command("render_cluster", "nowhere")
    with pytest.raises(CommandError, match="publish 999999: no such publish"):
        call_command("render_publish", "999999")
    publish = ProductPublish.objects.first()
    with pytest.raises(CommandError, match="no revision 42"):
        call_command("render_publish", str(publish.pk), "--revision", "42")


def test_command_exit_code_is_one(tmp_path):
    env = {"SQLITE_PATH": str(tmp_path / "db.sqlite3"), "PATH": "/usr/bin:/bin"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "-v0"],
        cwd=REPO_ROOT,
        env=env,
        check=True,
        timeout=120,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "render_cluster", "nowhere"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == "CommandError: cluster 'nowhere': no such cluster"
