"""What the test run has to work with: the repository, the real CRDs, and whether a missing
real dependency skips a test or (IMPGATEWAY_REQUIRE_SERVICES=1, as in CI) fails it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REQUIRE_SERVICES = os.environ.get("IMPGATEWAY_REQUIRE_SERVICES", "").lower() in {"1", "true"}


def skip_or_fail(reason: str) -> None:
    """Skip a test whose real dependency is missing; under IMPGATEWAY_REQUIRE_SERVICES=1, fail."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (IMPGATEWAY_REQUIRE_SERVICES=1)")
    pytest.skip(reason)


def crd_directory() -> Path:
    """The real CRD schemas: $IMPGATEWAY_CRD_DIR, else ../shared/crds beside the repository."""
    return Path(os.environ.get("IMPGATEWAY_CRD_DIR") or REPO_ROOT.parent / "shared" / "crds")
