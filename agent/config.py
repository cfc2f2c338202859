"""The agent's options: one table of command-line flags, each also read from an environment
variable, resolved into a typed, validated `AgentConfig`.

A flag wins over its variable, the variable over the default. Secrets (the registration
token) are also read from `<VARIABLE>_FILE`, as Kubernetes and Docker secrets are mounted.
"""

from __future__ import annotations

import argparse
import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from clusters.protocol import MAX_WAIT_SECONDS

SERVICE_ACCOUNT_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
DEFAULT_NAMESPACE = "imp-gateway-system"
FIELD_MANAGER = "imp-gateway-agent"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ConfigError(ValueError):
    """An option with a value the agent cannot use; the message names the flag and variable."""


@dataclass(frozen=True)
class Option:
    """One option: its flag, its environment variable, how to read it and what it means."""

    flag: str
    env: str
    kind: str  # "str", "int", "float", "bool", "secret", "path"
    default: Any
    help: str
    metavar: str | None = None

    @property
    def dest(self) -> str:
        return self.flag.lstrip("-").replace("-", "_")

    @property
    def label(self) -> str:
        return f"{self.flag} / {self.env}"


OPTIONS: tuple[Option, ...] = (
    Option("--server", "IMPGATEWAY_SERVER", "str", "",
           "Base URL of the Imp-Gateway control plane, e.g. https://imp.example.com.", "URL"),
    Option("--registration-token", "IMPGATEWAY_REGISTRATION_TOKEN", "secret", "",
           "One-time registration token from the control plane (also read from "
           "IMPGATEWAY_REGISTRATION_TOKEN_FILE).", "TOKEN"),
    Option("--token-file", "IMPGATEWAY_TOKEN_FILE", "path", "",
           "File holding the agent's access token: reused and refreshed across restarts. It may "
           "also hold a registration token to start from.", "FILE"),
    Option("--name", "IMPGATEWAY_AGENT_NAME", "str", "",
           "The agent's name within its cluster and its leader-election identity "
           "(default: $POD_NAME, else the host name).", "NAME"),
    Option("--kubeconfig", "IMPGATEWAY_KUBECONFIG", "path", "",
           "Kubeconfig file; without it the in-cluster service account is used (or $KUBECONFIG "
           "outside a cluster).", "PATH"),
    Option("--namespace", "IMPGATEWAY_NAMESPACE", "str", "",
           "The agent's own namespace: inventories and the leader Lease live there "
           f"(default: $POD_NAMESPACE, the service account's namespace, else {DEFAULT_NAMESPACE}).",
           "NS"),
    Option("--once", "IMPGATEWAY_ONCE", "bool", False,
           "Apply the current desired state once, report, and exit (non-zero on failure)."),
    Option("--drift-interval", "IMPGATEWAY_DRIFT_INTERVAL", "float", 300.0,
           "Seconds between drift checks of everything applied.", "S"),
    Option("--output-dir", "IMPGATEWAY_OUTPUT_DIR", "path", "",
           "Write each publish's manifests as YAML files below this directory instead of "
           "applying them (a GitOps sink for Argo CD or Flux).", "DIR"),
    Option("--metrics-port", "IMPGATEWAY_METRICS_PORT", "int", 8080,
           "Port of /metrics, /healthz and /readyz; 0 turns the endpoint off.", "P"),
    Option("--metrics-address", "IMPGATEWAY_METRICS_ADDRESS", "str", "0.0.0.0",  # noqa: S104
           "Address the metrics and health endpoint listens on.", "ADDR"),
    Option("--poll-wait", "IMPGATEWAY_POLL_WAIT", "int", 30,
           f"Seconds a desired-state long-poll may wait on the server (1-{MAX_WAIT_SECONDS}).",
           "S"),
    Option("--heartbeat-interval", "IMPGATEWAY_HEARTBEAT_INTERVAL", "float", 30.0,
           "Seconds between heartbeats.", "S"),
    Option("--status-interval", "IMPGATEWAY_STATUS_INTERVAL", "float", 5.0,
           "Seconds between status read-backs while objects are not Ready yet.", "S"),
    Option("--capabilities-interval", "IMPGATEWAY_CAPABILITIES_INTERVAL", "float", 300.0,
           "Seconds between capability discoveries (Kubernetes version, CRDs, gateway classes).",
           "S"),
    Option("--leader-election", "IMPGATEWAY_LEADER_ELECTION", "bool", True,
           "Elect one leader through a Lease; only the leader applies (--no-leader-election "
           "for a single agent)."),
    Option("--lease-name", "IMPGATEWAY_LEASE_NAME", "str", "imp-gateway-agent",
           "Name of the coordination.k8s.io/v1 Lease in the agent namespace.", "NAME"),
    Option("--lease-duration", "IMPGATEWAY_LEASE_DURATION", "float", 15.0,
           "Seconds a follower waits after the leader's last renewal before taking over.", "S"),
    Option("--renew-deadline", "IMPGATEWAY_RENEW_DEADLINE", "float", 10.0,
           "Seconds the leader keeps leading without a successful renewal.", "S"),
    Option("--retry-period", "IMPGATEWAY_RETRY_PERIOD", "float", 2.0,
           "Seconds between attempts to acquire or renew the Lease.", "S"),
    Option("--apply-concurrency", "IMPGATEWAY_APPLY_CONCURRENCY", "int", 4,
           "Objects of one kind applied in parallel.", "N"),
    Option("--max-backoff", "IMPGATEWAY_MAX_BACKOFF", "float", 60.0,
           "Cap of the jittered exponential backoff after errors, in seconds.", "S"),
    Option("--log-format", "IMPGATEWAY_LOG_FORMAT", "str", "logfmt",
           "One line per action as key=value pairs (logfmt) or JSON (json).", "FORMAT"),
    Option("--log-level", "IMPGATEWAY_LOG_LEVEL", "str", "INFO",
           "DEBUG, INFO, WARNING or ERROR.", "LEVEL"),
)


@dataclass(frozen=True)
class AgentConfig:
    """Everything the agent needs to know to run, validated."""

    server: str
    registration_token: str
    token_file: Path | None
    name: str
    kubeconfig: Path | None
    namespace: str
    once: bool
    drift_interval: float
    output_dir: Path | None
    metrics_port: int
    metrics_address: str
    poll_wait: int
    heartbeat_interval: float
    status_interval: float
    capabilities_interval: float
    leader_election: bool
    lease_name: str
    lease_duration: float
    renew_deadline: float
    retry_period: float
    apply_concurrency: int
    max_backoff: float
    log_format: str
    log_level: str
    field_manager: str = FIELD_MANAGER

    def describe(self) -> dict[str, Any]:
        """The configuration for a start-up log line: secrets only say whether they are set."""
        return {
            "server": self.server,
            "name": self.name,
            "namespace": self.namespace,
            "registration_token": "set" if self.registration_token else "unset",
            "token_file": str(self.token_file or ""),
            "kubeconfig": str(self.kubeconfig or "in-cluster"),
            "output_dir": str(self.output_dir or ""),
            "once": self.once,
            "leader_election": self.leader_election,
            "drift_interval": self.drift_interval,
            "metrics_port": self.metrics_port,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare every option on a command's parser; unset flags stay None so the environment
    variable (then the default) applies."""
    for option in OPTIONS:
        help_text = f"{option.help} [env {option.env}]"
        if option.kind == "bool":
            parser.add_argument(
                option.flag,
                dest=option.dest,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=help_text,
            )
        else:
            parser.add_argument(
                option.flag, dest=option.dest, default=None, metavar=option.metavar, help=help_text
            )


def _read_bool(option: Option, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    value = str(raw).strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{option.label}: expected true or false, got {raw!r}")


def _read_number(option: Option, raw: Any, convert: Callable[[str], Any]) -> Any:
    try:
        return convert(str(raw).strip())
    except ValueError:
        expected = "an integer" if convert is int else "a number"
        raise ConfigError(f"{option.label}: expected {expected}, got {raw!r}") from None


def _raw_value(option: Option, given: Mapping[str, Any], environ: Mapping[str, str]) -> Any:
    value = given.get(option.dest)
    if value is not None:
        return value
    if option.kind == "secret":
        path = environ.get(f"{option.env}_FILE")
        if path:
            try:
                return Path(path).read_text().strip()
            except OSError as exc:
                raise ConfigError(
                    f"{option.env}_FILE: cannot read {path}: {exc.strerror}"
                ) from None
    if option.env in environ:
        return environ[option.env]
    return option.default


def _typed(option: Option, raw: Any) -> Any:
    if option.kind == "bool":
        return _read_bool(option, raw)
    if option.kind == "int":
        return _read_number(option, raw, int)
    if option.kind == "float":
        return _read_number(option, raw, float)
    if option.kind == "path":
        text = str(raw).strip()
        return Path(text).expanduser() if text else None
    return str(raw).strip()


def default_name(environ: Mapping[str, str]) -> str:
    """The pod name when the Downward API provides it, else the host name."""
    return environ.get("POD_NAME") or socket.gethostname()


def default_namespace(environ: Mapping[str, str]) -> str:
    """$POD_NAMESPACE, the service account's namespace in a pod, else the default."""
    if environ.get("POD_NAMESPACE"):
        return environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE_FILE.read_text().strip() or DEFAULT_NAMESPACE
    except OSError:
        return DEFAULT_NAMESPACE


def _positive(values: dict[str, Any], dest: str, minimum: float = 0.0) -> None:
    option = next(option for option in OPTIONS if option.dest == dest)
    if values[dest] <= minimum:
        raise ConfigError(f"{option.label}: must be greater than {minimum:g}, got {values[dest]}")


def resolve(given: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> AgentConfig:
    """The configuration from parsed flags (`given`, keyed by dest) and the environment."""
    env = os.environ if environ is None else environ
    values = {option.dest: _typed(option, _raw_value(option, given, env)) for option in OPTIONS}

    server = values["server"].rstrip("/")
    parsed = urlparse(server)
    if not server:
        raise ConfigError("--server / IMPGATEWAY_SERVER: the control plane URL is required")
    if parsed.scheme not in {"http", "https"} or not parsed.netloc:
        raise ConfigError(
            f"--server / IMPGATEWAY_SERVER: expected an http(s) URL, got {values['server']!r}"
        )
    if not values["registration_token"] and values["token_file"] is None:
        raise ConfigError(
            "--registration-token / IMPGATEWAY_REGISTRATION_TOKEN or --token-file / "
            "IMPGATEWAY_TOKEN_FILE: one of them is required to authenticate"
        )
    for dest in ("drift_interval", "heartbeat_interval", "status_interval",
                 "capabilities_interval", "lease_duration", "renew_deadline", "retry_period",
                 "max_backoff"):
        _positive(values, dest)
    if not 1 <= values["poll_wait"] <= MAX_WAIT_SECONDS:
        raise ConfigError(
            f"--poll-wait / IMPGATEWAY_POLL_WAIT: must be between 1 and {MAX_WAIT_SECONDS}, "
            f"got {values['poll_wait']}"
        )
    if not 0 <= values["metrics_port"] <= 65535:
        raise ConfigError(
            f"--metrics-port / IMPGATEWAY_METRICS_PORT: must be a port number (0 turns it off), "
            f"got {values['metrics_port']}"
        )
    if values["apply_concurrency"] < 1:
        raise ConfigError("--apply-concurrency / IMPGATEWAY_APPLY_CONCURRENCY: must be at least 1")
    if values["renew_deadline"] >= values["lease_duration"]:
        raise ConfigError(
            "--renew-deadline / IMPGATEWAY_RENEW_DEADLINE: must be shorter than --lease-duration "
            f"({values['lease_duration']:g} s), got {values['renew_deadline']:g}"
        )
    if values["retry_period"] >= values["renew_deadline"]:
        raise ConfigError(
            "--retry-period / IMPGATEWAY_RETRY_PERIOD: must be shorter than --renew-deadline "
            f"({values['renew_deadline']:g} s), got {values['retry_period']:g}"
        )
    log_format = values["log_format"].lower()
    if log_format not in {"logfmt", "json"}:
        raise ConfigError(
            f"--log-format / IMPGATEWAY_LOG_FORMAT: expected logfmt or json, got {log_format!r}"
        )
    log_level = values["log_level"].upper()
    if log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
        raise ConfigError(
            "--log-level / IMPGATEWAY_LOG_LEVEL: expected DEBUG, INFO, WARNING or ERROR, "
            f"got {values['log_level']!r}"
        )
    namespace = values["namespace"] or default_namespace(env)
    name = values["name"] or default_name(env)
    return AgentConfig(
        server=server,
        registration_token=values["registration_token"],
        token_file=values["token_file"],
        name=name,
        kubeconfig=values["kubeconfig"],
        namespace=namespace,
        once=values["once"],
        drift_interval=values["drift_interval"],
        output_dir=values["output_dir"],
        metrics_port=values["metrics_port"],
        metrics_address=values["metrics_address"],
        poll_wait=values["poll_wait"],
        heartbeat_interval=values["heartbeat_interval"],
        status_interval=values["status_interval"],
        capabilities_interval=values["capabilities_interval"],
        leader_election=values["leader_election"],
        lease_name=values["lease_name"],
        lease_duration=values["lease_duration"],
        renew_deadline=values["renew_deadline"],
        retry_period=values["retry_period"],
        apply_concurrency=values["apply_concurrency"],
        max_backoff=values["max_backoff"],
        log_format=log_format,
        log_level=log_level,
    )


def options_table() -> str:
    """The options as a Markdown table (docs/agent.md carries it)."""
    lines = ["| flag | environment variable | default | meaning |", "|---|---|---|---|"]
    for option in OPTIONS:
        default = option.default
        shown = "—" if default in ("", None) else str(default).lower() if isinstance(
            default, bool
        ) else str(default)
        lines.append(f"| `{option.flag}` | `{option.env}` | {shown} | {option.help} |")
    return "\n".join(lines)
