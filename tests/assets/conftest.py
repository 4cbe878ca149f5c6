"""Fixtures of the asset tests: an ephemeral Dagster instance per test."""

import pytest
from dagster import DagsterInstance


@pytest.fixture()
def instance():
    with DagsterInstance.ephemeral() as running:
        yield running
