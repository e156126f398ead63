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
    #: Credentials for an instance without OS authentication (settings ``username`` and the
    #: secret ``password``); empty when OS authentication lets ``iris session`` in.
    username: str = ""
    password: str = field(default="", repr=False, compare=False)
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def login_input(self) -> bytes:
        """What ``iris session`` reads first when it asks for a login: the username and password
        lines, as a person would type them; nothing when no username is configured.  Transports
        put it before the script on the session's stdin, never in argv or the environment."""
        if not self.username:
            return b""
        return f"{self.username}\n{self.password}\n".encode("utf-8")

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
