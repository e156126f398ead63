"""What every transport speaks: the target it addresses and the results it returns."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Target:
    """Where an instance lives and how to reach it.

    ``transport`` picks the plugin (``docker`` or ``local`` built in); the other fields are
    read by the transport that claims it.
    """

    transport: str = "docker"
    container: str = ""
    instance: str = "IRIS"
    docker_host: str = ""
    #: The OS user owning instance files (``irisowner`` in the official images).
    owner: str = "irisowner"
    #: The local `iris` command for the local transport.
    iris_command: str = "iris"
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def describe(self) -> str:
        if self.transport == "docker":
            return f"container {self.container!r} (instance {self.instance})"
        return f"{self.transport} instance {self.instance}"


@dataclass(frozen=True)
class ExecResult:
    """A finished process: its exit status and raw output."""

    exit_code: int
    stdout: bytes
    stderr: bytes = b""

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "replace")


@dataclass(frozen=True)
class FileDigest:
    """Bytes moved and their sha256, computed in the same pass as the copy."""

    bytes: int
    sha256: str
