"""What every transport speaks: the target it addresses and the results it returns."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Target", "ExecResult", "FileDigest", "Reflink", "OpenSession"]


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
    #: secret ``password``); empty when OS authentication lets ``iris session`` in.  Transports
    #: type them only in answer to the prompts (:mod:`iris_ops.transports.login`), never in argv,
    #: the environment, or ahead of the script.
    username: str = ""
    password: str = field(default="", repr=False, compare=False)
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    #: The target's name in the project file (``[targets.NAME]``); empty for an unnamed instance.
    name: str = ""
    #: The SSH destination of an ``ssh`` target (a name, an ssh_config alias, user@host:port).
    ssh_host: str = ""
    #: Accept and record a host key not yet in known_hosts (OpenSSH's ``accept-new``).
    accept_new_host_key: bool = False
    #: Resolved paths of the known_hosts file and the OpenSSH client configuration.
    known_hosts: str = ""
    ssh_config: str = ""

    @property
    def copies_keep_owner(self) -> bool:
        """Whether a file an in-instance copy creates (``%File.CopyFile``) belongs to the instance
        owner.  It belongs to the session's OS user: in a container, the image's user
        (``irisowner`` in IRIS images, the owner); a local session run by root is not, and
        another transport is not assumed to be.  When False, restore has the transport make an
        empty file first (owner and mode as for a streamed one), which the copy then fills."""
        return self.transport == "docker"

    def describe(self) -> str:
        if self.transport == "docker":
            where = f"container {self.container!r} (instance {self.instance})"
        else:
            where = f"{self.transport} instance {self.instance}"
        return f"{where} of target {self.name}" if self.name else where


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
class Reflink:
    """Whether a file was made to share its blocks with another (``reflink_files``), or whether a
    directory can hold such a copy (``probe_reflink``); ``reason`` says why not."""

    done: bool
    reason: str = ""


@dataclass(frozen=True)
class FileDigest:
    """Bytes moved and their sha256, computed in the same pass as the copy."""

    bytes: int
    sha256: str


class OpenSession:
    """A running ``iris session`` whose stdin stays open (what ``open_session`` returns).

    The session lives as long as its stdin: :meth:`close` (or the death of this process, which
    closes the pipe or the exec connection) ends it with end of input.  Transports implement
    ``_send``, ``read``, ``close_input``, ``read_until`` and ``close``; :meth:`log_in` answers the
    login once, right after the start."""

    #: False once the login stopped at a prompt iris-ops does not answer: nothing is sent any more.
    ready = True

    def send(self, data: bytes) -> None:
        """Write ``data`` to the session's stdin (nothing, once the login failed)."""
        if self.ready and data:
            self._send(data)

    def _send(self, data: bytes) -> None:
        raise NotImplementedError

    def read(self, deadline: float, settle: float | None = None):
        """The next output, None once the session ended, or ``login.QUIET`` after ``settle``
        seconds without any (see :class:`iris_ops.transports.login.Exchange`)."""
        raise NotImplementedError

    def close_input(self) -> None:
        """End the session's stdin (it reads the end of its input)."""
        raise NotImplementedError

    def log_in(self, username: str, password: str, deadline: float) -> None:
        """Wait for the terminal prompt, answering a login it asks for; when it stops at a
        prompt we do not answer, end its input (``read_until`` then shows why).

        A login that fails or is interrupted (the deadline, a signal) closes the session here,
        without waiting: its caller never gets it to close.  Its input ends at once, so a session
        that reaches the instance late reads the end of its input at its prompt and exits,
        having run nothing (in-process callers, such as ``inv`` tasks, live on after the error,
        and an open connection would keep that session waiting)."""
        import time

        from iris_ops.errors import DeadlineExceeded
        from iris_ops.transports.login import converse

        started = time.monotonic()
        try:
            _, ready = converse(self, username, password, deadline)
        except DeadlineExceeded as exc:  # said as every other session past its deadline says it
            self.close(time.monotonic())
            raise DeadlineExceeded(
                f"{getattr(self, 'what', 'the session')} did not finish within {time.monotonic() - started:.1f} s "
                "(it never showed its prompt); it may still be running in the instance") from exc
        except BaseException:
            self.close(time.monotonic())
            raise
        if not ready:
            self.close_input()
            self.ready = False

    def read_until(self, markers: tuple[bytes, ...], deadline: float) -> bytes:
        """All output so far, once it holds one of ``markers`` or the session ended.  Past
        ``deadline`` (a :func:`time.monotonic` value) raise
        :class:`iris_ops.errors.DeadlineExceeded`."""
        raise NotImplementedError

    def close(self, deadline: float) -> int | None:
        """End stdin, wait for the session to exit by ``deadline``; its exit status, or None
        when it did not exit in time (it ends on its own once it reads the end of input)."""
        raise NotImplementedError
