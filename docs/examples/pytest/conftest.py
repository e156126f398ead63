"""The accounts fixture: a fresh namespace restored from fixtures/user for every test."""

import pytest


@pytest.fixture
def accounts(iris_namespace):
    return iris_namespace("user")
