"""Shared fixtures of the IaC tests. Run with the local tools venv: `localstack/.venv/bin/pytest -q infra/tests`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "infra" / "template.yaml"

# The tests translate the template exactly as the local deploy does.
sys.path.insert(0, str(REPO / "localstack"))
import deploy  # noqa: E402

# (edition, region) pairs the template must translate for.
EDITIONS = [("mainland", "cn-north-1"), ("mainland", "cn-northwest-1"), ("international", "ap-southeast-1")]


@pytest.fixture(scope="session")
def template_text() -> str:
    return TEMPLATE.read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def sam() -> dict[str, Any]:
    return deploy.load_template(TEMPLATE)


@pytest.fixture(scope="session")
def translate(sam: dict[str, Any]):
    """translate(edition, region, **parameters) -> (translated template, resolver with parameter values only)."""
    cache: dict[tuple, tuple[dict[str, Any], deploy.Resolver]] = {}

    def run(edition: str, region: str, **parameters: str) -> tuple[dict[str, Any], deploy.Resolver]:
        key = (edition, region, tuple(sorted(parameters.items())))
        if key not in cache:
            params = deploy.parameter_values(sam, {"Edition": edition, **parameters})
            translated = deploy.translate(deploy.with_placeholder_code(sam), params, region)
            pseudo = {
                "AWS::Region": region,
                "AWS::Partition": deploy.partition_of(region),
                "AWS::URLSuffix": deploy.url_suffix_of(region),
                "AWS::AccountId": "123456789012",
                "AWS::StackName": "kefu-test",
            }
            cache[key] = (translated, deploy.Resolver(translated, {**params, **pseudo}))
        return cache[key]

    return run
