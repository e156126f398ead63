"""The accounts fixture: a fresh namespace restored from fixtures/user for every test.

Run against your IRIS container with `pytest --iris-container NAME` (or the container setting of
iris-ops.toml), or on a simulated IRIS (iris-ops-sim installed) with `pytest --iris-sim`.
"""

import pytest


@pytest.fixture
def accounts(iris_namespace):
    return iris_namespace("user")
