"""Helpers the CLI tests import by name (a conftest module is not importable by name: the
plugin distributions' tests have a conftest of their own): a throwaway plugin, the CLI in-process,
an image that is not IRIS."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tarfile


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


def busybox_image(client) -> str:
    """A 2 MB image (static busybox only, no `iris`) for containers that just need to exist."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        tar.add(os.path.realpath(shutil.which("busybox") or "/bin/busybox"), "bin/busybox")
        link = tarfile.TarInfo("bin/sh")
        link.type, link.linkname = tarfile.SYMTYPE, "busybox"
        tar.addfile(link)
    client.api.import_image_from_data(buffer.getvalue(), repository="iris-ops-busybox", tag="t")
    return "iris-ops-busybox:t"
