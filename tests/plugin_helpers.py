"""Registering a throwaway plugin in a test (importable by name: a conftest is not)."""

from __future__ import annotations

import contextlib


@contextlib.contextmanager
def plugin(obj):
    """Register ``obj`` as a plugin for the duration (the in-process CLI sees it)."""
    from iris_ops.manager import get_plugin_manager

    pm = get_plugin_manager()
    pm.register(obj, name=f"test-plugin-{id(obj)}")
    try:
        yield pm
    finally:
        pm.unregister(obj)
