"""The GitOps sink (`--output-dir`): each publish's manifests as YAML files, for Argo CD or
Flux to apply from a repository, instead of the agent applying them.

Layout: `<dir>/publish-<id>/<kind>-<name>.yaml`, one object per file, file names derived
from the object only, so a new revision rewrites just the files whose objects changed. Files
are replaced atomically and only when their content changes; objects that left a publish
lose their file, a removed publish its directory.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .kube import ObjectKey
from .logs import log_event

_PUBLISH_DIRECTORY = re.compile(r"^publish-(\d+)$")


def file_names(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """A deterministic file name per manifest: `<kind>-<name>.yaml`, qualified with the API
    group when two objects of one publish would share it."""
    base: dict[str, list[dict[str, Any]]] = {}
    for manifest in manifests:
        name = f"{manifest['kind'].lower()}-{manifest['metadata']['name']}.yaml"
        base.setdefault(name, []).append(manifest)
    names: dict[str, dict[str, Any]] = {}
    for name, group in base.items():
        if len(group) == 1:
            names[name] = group[0]
            continue
        for manifest in group:
            api_group = manifest["apiVersion"].rpartition("/")[0] or "core"
            names[f"{manifest['kind'].lower()}.{api_group}-{manifest['metadata']['name']}.yaml"] = (
                manifest
            )
    return names


def render_file(manifest: dict[str, Any]) -> str:
    return yaml.safe_dump(manifest, sort_keys=False, allow_unicode=True, default_flow_style=False)


def _key_of_file(path: Path) -> ObjectKey:
    try:
        document = yaml.safe_load(path.read_text()) or {}
        return ObjectKey.of(document)
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return ObjectKey("", "File", "", path.name)


def _write_atomically(path: Path, text: str) -> None:
    scratch = path.with_name(f".{path.name}.tmp{os.getpid()}")
    scratch.write_text(text)
    os.replace(scratch, path)


@dataclass
class SinkResult:
    created: list[ObjectKey] = field(default_factory=list)
    configured: list[ObjectKey] = field(default_factory=list)
    unchanged: list[ObjectKey] = field(default_factory=list)
    pruned: list[ObjectKey] = field(default_factory=list)


class ManifestSink:
    """Writes publishes below one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def directory(self, publish_id: int) -> Path:
        return self.root / f"publish-{publish_id}"

    def publish_ids(self) -> set[int]:
        """The publishes that have a directory."""
        if not self.root.is_dir():
            return set()
        found = set()
        for entry in self.root.iterdir():
            match = _PUBLISH_DIRECTORY.match(entry.name)
            if match and entry.is_dir():
                found.add(int(match.group(1)))
        return found

    def write(self, publish_id: int, manifests: list[dict[str, Any]]) -> SinkResult:
        """Make the publish's directory hold exactly these manifests."""
        directory = self.directory(publish_id)
        directory.mkdir(parents=True, exist_ok=True)
        result = SinkResult()
        wanted = file_names(manifests)
        for name, manifest in sorted(wanted.items()):
            path = directory / name
            text = render_file(manifest)
            key = ObjectKey.of(manifest)
            try:
                current = path.read_text()
            except FileNotFoundError:
                current = None
            if current == text:
                result.unchanged.append(key)
                continue
            _write_atomically(path, text)
            (result.created if current is None else result.configured).append(key)
            log_event("write_file", publish_id=publish_id, file=str(path),
                      result="created" if current is None else "configured")
        for path in sorted(directory.glob("*.yaml")):
            if path.name not in wanted:
                result.pruned.append(_key_of_file(path))
                path.unlink()
                log_event("remove_file", publish_id=publish_id, file=str(path))
        return result

    def remove(self, publish_id: int) -> list[ObjectKey]:
        """Delete a publish's directory; the objects whose files went."""
        directory = self.directory(publish_id)
        if not directory.is_dir():
            return []
        pruned = [_key_of_file(path) for path in sorted(directory.glob("*.yaml"))]
        shutil.rmtree(directory)
        log_event("remove_directory", publish_id=publish_id, directory=str(directory))
        return pruned
