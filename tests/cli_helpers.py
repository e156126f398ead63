"""Helpers the CLI tests import by name (a conftest module is not importable by name: the
plugin distributions' tests have a conftest of their own): a throwaway plugin, the CLI in-process."""

from __future__ import annotations

import contextlib
import os


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


def make_inproc(env, monkeypatch, tmp_path, capsys):
    """The in-process CLI with only ``env``'s IRIS_OPS_* settings (JSON logs), run in ``tmp_path``."""
    from iris_ops import cli as cli_module

    for key in list(os.environ):
        if key.startswith("IRIS_OPS_"):
            monkeypatch.delenv(key)
    for key, value in {**env, "IRIS_OPS_LOG_FORMAT": "json"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.chdir(tmp_path)

    def run(*args):
        capsys.readouterr()
        code = 0
        try:
            cli_module.main(["iris-ops", *map(str, args)])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return code, out, err

    return run
