"""What every operation carries: settings, the plugin manager, the target, the runner, logs.

An :class:`Operation` is what hooks receive and what the runtime modules (:mod:`iris_ops.locks`,
:mod:`iris_ops.cache`) work with, so it lives below them and below the hook specifications; it
is built from a task's flags by :func:`iris_ops.operations.context.operation_from_flags`, which
loads the plugins.
"""

from __future__ import annotations

import contextlib
import re
import sys
from typing import Any, Iterator

import structlog

from iris_ops import config
from iris_ops.errors import UsageError
from iris_ops.runner import Runner
from iris_ops.transports.base import Target

__all__ = ["target_from_settings", "Operation"]

_CONTAINER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
_INSTANCE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,63}$")


def target_from_settings(settings: config.Settings) -> Target:
    transport = settings.transport
    if transport == "ssh":
        _check_ssh_host(settings.ssh_host)
    if transport == "docker" or (transport == "ssh" and settings.container):
        if not settings.container:
            raise UsageError(
                "no IRIS container configured",
                fix="Pass --container NAME, set IRIS_OPS_CONTAINER, or `container = \"NAME\"` in iris-ops.toml.",
            )
        if not _CONTAINER.match(settings.container):
            raise UsageError(
                f"invalid container name {settings.container!r}",
                fix="Docker container names use letters, digits, '_', '.' and '-'.",
            )
    if not _INSTANCE.match(settings.instance):
        raise UsageError(f"invalid instance name {settings.instance!r}", fix="IRIS instance names are like IRIS.")
    username, password = settings.get("username", ""), settings.get("password", "")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in username + password):
        # each is one line of the login; the message never quotes them
        raise UsageError("the username or password setting holds a control character",
                         fix="Set IRIS_OPS_USERNAME / IRIS_OPS_PASSWORD to one line each.")
    ssh = transport == "ssh"
    named = settings.named
    return Target(
        transport=transport,
        container=settings.container,
        instance=settings.instance.upper(),
        docker_host=settings.docker_host,
        owner=settings.owner,
        iris_command=settings.iris_command,
        username=username,
        password=password,
        name=named.name if named else "",
        ssh_host=settings.ssh_host if ssh else "",
        accept_new_host_key=bool(settings.accept_new_host_key) if ssh else False,
        known_hosts=str(settings.path("known_hosts")) if ssh else "",
        ssh_config=str(settings.path("ssh_config")) if ssh else "",
    )


def _check_ssh_host(host: str) -> None:
    """The ssh transport's destination: one that is set, and that ssh could not read as an option
    or split into two words (it names a host; it never reaches a shell: the transport connects
    through Paramiko)."""
    if not host:
        raise UsageError(
            "the ssh transport needs the instance's host",
            fix="Set IRIS_OPS_SSH_HOST (setting `ssh_host`) to a host name, an ssh_config alias or user@host:port.",
        )
    if host.startswith("-") or any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in host):
        raise UsageError(f"invalid ssh_host {host!r}",
                         fix="Give a host name, an ssh_config alias or user@host:port, without spaces.")


class Operation:
    """One run of a task against one instance."""

    def __init__(self, name: str, settings: config.Settings, pm, *, dry_run: bool = False, out=None) -> None:
        self.name = name
        self.settings = settings.require_consistent()
        self.pm = pm
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.target = target_from_settings(settings)
        self.runner = Runner(pm, self.target, timeout=settings.timeout, dry_run=dry_run, out=self.out)
        self.log = structlog.get_logger(f"iris_ops.{name}")
        # What -v users need to see which instance and limits a run used.  Values as they are:
        # the log pipeline masks every secret (redact.processor), as in any other event.
        self.log.debug("operation.settings", settings={key: self.settings[key] for key in self.settings},
                       sources={key: self.settings.source(key) for key in self.settings
                                if self.settings.source(key) != "default"})

    @contextlib.contextmanager
    def bound(self, **context: Any) -> Iterator["Operation"]:
        with structlog.contextvars.bound_contextvars(
            operation=self.name, target=self.target.name or None, container=self.target.container or None,
            **context
        ):
            yield self

    @property
    def hook(self):
        return self.pm.hook

    def emit(self, text: str = "") -> None:
        """A result line on stdout (logs go to stderr), secrets masked."""
        from iris_ops import redact

        print(redact.text(text), file=self.out)

    def step(self, event: str, **fields: Any) -> None:
        """A step the task's result also lists: logged at info, or at debug when a person
        watches the terminal (the result shows each step once; ``-v`` shows both)."""
        from iris_ops import progress

        (self.log.debug if progress.interactive() else self.log.info)(event, **fields)
