"""Runs built scripts through the ``run_objectscript`` hook and decides whether they succeeded.

Success needs all three: both run-time markers present, ``ok`` true in the JSON between them,
and exit status 0.  Anything else raises :class:`~iris_ops.errors.ScriptError` carrying the
IRIS error text and the tail of the output; a login prompt (any question the session stopped
at before its terminal prompt, whatever its wording) raises an exit-6 error.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
import time
from typing import TYPE_CHECKING, Any, Callable, Iterator

import structlog

from iris_ops.errors import AuthenticationError, ConfigError, InternalError, ScriptError, UnreachableError
from iris_ops.objectscript import Script

if TYPE_CHECKING:
    import pluggy

    from iris_ops.transports.base import ExecResult, FileDigest, OpenSession, Reflink, Target

__all__ = ["TAIL_LINES", "normalise", "tail", "Runner", "require", "stalled_at_login"]

log = structlog.get_logger(__name__)

TAIL_LINES = 15
_LOGIN = re.compile(r"^\s*(Username:|Access Denied)", re.MULTILINE)
# What `iris session NAME` prints for an instance it does not know.
_NO_INSTANCE = re.compile(r"^\s*Instance '([^']*)' not found", re.MULTILINE)
_REFUSED = re.compile(r"^\s*Access Denied", re.MULTILINE)
_CHANGE_REQUIRED = re.compile(r"^\s*Password change required", re.MULTILINE)
# `<UNDEFINED> *x`, `<SYNTAX>`, `ERROR #5001: ...` as printed by the terminal.
_IRIS_ERROR = re.compile(r"^\s*(<[A-Z][A-Z ]*>.*|ERROR #\d+:.*)$", re.MULTILINE)


def stalled_at_login(text: str, answered: bool = False) -> str | None:
    """The question a session stopped at before it ever showed its terminal prompt (a last line
    ending in ``:``, and no line ending in ``>``), or None.  The transports answer only the first
    ``Username:`` and the ``Password:`` after it (``answered``: credentials were configured, so
    those two were answered) and close the session's input at anything else (see
    :mod:`iris_ops.transports.login`), so such an ending is a login that did not complete."""
    lines = [line.strip() for line in normalise(text).split("\n") if line.strip()]
    if any(line.endswith(">") for line in lines):
        return None
    if answered and "Username:" in lines:
        at = lines.index("Username:")
        lines = lines[:at] + lines[at + 1:]
        if "Password:" in lines[at:]:
            lines.pop(lines.index("Password:", at))
    return lines[-1] if lines and lines[-1].endswith(":") else None


def normalise(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def tail(text: str, lines: int = TAIL_LINES) -> str:
    return "\n".join(normalise(text).rstrip("\n").split("\n")[-lines:])


class Runner:
    """Runs scripts on one target, and moves its files: the one gateway to the transport hooks.
    With ``dry_run``, changing scripts are printed, not run."""

    def __init__(self, pm: "pluggy.PluginManager", target: "Target", *, timeout: float, dry_run: bool = False,
                 out=None) -> None:
        self.pm = pm
        self.target = target
        self.timeout = timeout
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self._gate: Callable[..., "ExecResult | None"] | None = None
        self._owned = False

    def set_gate(self, gate: "Callable[..., ExecResult | None] | None") -> None:
        """Call ``gate(owned)`` before each contact with the instance (None removes it): how
        :func:`iris_ops.locks.holding` takes its lock at the first one, after an operation's
        local checks and ``pre_*`` hooks.  A gate that raises stops the contact.  ``owned`` is
        True inside :meth:`owned`.  A read-only script's contact is ``gate(owned, script,
        timeout)``: the gate may run it itself (the lock's session) and return its output, or
        return None."""
        self._gate = gate

    @contextlib.contextmanager
    def owned(self) -> Iterator[None]:
        """Contacts in this block touch only what this operation alone owns, found by its own
        random token (a backup's staging directory, its freeze record and the freeze that record
        proves): the lock's gate lets them through even when the lock may have lapsed, so an
        operation stopped too long still cleans up after itself."""
        before, self._owned = self._owned, True
        try:
            yield
        finally:
            self._owned = before

    def _through_gate(self, first: "Script | None" = None, timeout: float | None = None) -> "ExecResult | None":
        """Pass the gate (see :meth:`set_gate`): the output of ``first`` when the gate ran it."""
        return self._gate(self._owned, first, timeout) if self._gate is not None else None

    # -- raw access -------------------------------------------------------------------------

    def execute(self, text: str, namespace: str, *, timeout: float | None = None) -> "ExecResult":
        self._through_gate()
        return self._execute(text, namespace, timeout)

    def _execute(self, text: str, namespace: str, timeout: float | None) -> "ExecResult":
        result = self._claimed(self.pm.hook.run_objectscript(
            target=self.target, script=text, namespace=namespace, timeout=timeout or self.timeout
        ))
        self._check_login(result.text)
        return result

    def argument_call(self, entry: str, namespace: str = "%SYS", *, timeout: float | None = None) -> "ExecResult":
        self._through_gate()
        result = self._claimed(self.pm.hook.exec_argument_call(
            target=self.target, entry=entry, namespace=namespace, timeout=timeout or self.timeout
        ))
        self._check_login(result.text)
        return result

    def open_session(self, namespace: str, *, timeout: float | None = None) -> "OpenSession":
        """A session whose stdin stays open (for locks held in the instance)."""
        return self._claimed(self.pm.hook.open_session(target=self.target, namespace=namespace,
                                                       timeout=timeout or self.timeout))

    def read_file(self, path: str, dest, *, timeout: float) -> "FileDigest":
        self._through_gate()
        return self._claimed(self.pm.hook.read_file(target=self.target, path=path, dest=dest, timeout=timeout))

    def read_json(self, path: str, *, timeout: float) -> dict:
        """The JSON object in the instance's file ``path``: the records and journals iris-ops
        keeps in the instance.  ValueError when it is not one (empty, half written, or another
        JSON value); the transport's errors as :meth:`read_file` raises them."""
        import io

        buffer = io.BytesIO()
        self.read_file(path, buffer, timeout=timeout)
        doc = json.loads(buffer.getvalue())
        if not isinstance(doc, dict):
            # (the caller names the file: its messages say which record it is)
            raise ValueError(f"it holds JSON {type(doc).__name__}, not an object")
        return doc

    def write_file(self, src, size: int, path: str, *, timeout: float) -> "FileDigest":
        self._through_gate()
        return self._claimed(
            self.pm.hook.write_file(target=self.target, src=src, size=size, path=path, timeout=timeout)
        )

    def write_files(self, files: "list[tuple[bytes, str]]", *, timeout: float) -> None:
        """Each ``(data, path)`` of ``files`` written whole, in order, as :meth:`write_file`
        writes one: in one round trip where the transport can (``write_files``), else one
        :meth:`write_file` each."""
        import io

        self._through_gate()
        if self.pm.hook.write_files(target=self.target, files=files, timeout=timeout):
            return
        for data, path in files:
            self.write_file(io.BytesIO(data), len(data), path, timeout=timeout)

    def remove_path(self, path: str, *, timeout: float | None = None) -> bool:
        self._through_gate()
        return self._claimed(self.pm.hook.remove_path(target=self.target, path=path, timeout=timeout or self.timeout))

    def list_directory(self, path: str, *, timeout: float | None = None) -> list[str]:
        self._through_gate()
        return self._claimed(self.pm.hook.list_directory(target=self.target, path=path,
                                                         timeout=timeout or self.timeout))

    def reflink_files(self, pairs: list[tuple[str, str]], *, timeout: float) -> "list[Reflink] | None":
        """None when no transport can reflink (the copies are then made inside the instance)."""
        self._through_gate()
        return self.pm.hook.reflink_files(target=self.target, pairs=pairs, timeout=timeout)

    def probe_reflink(self, directories: list[str], *, timeout: float | None = None) -> "dict[str, Reflink] | None":
        self._through_gate()
        return self.pm.hook.probe_reflink(target=self.target, directories=directories, timeout=timeout or self.timeout)

    def _claimed(self, result):
        """A firstresult transport hook answered None: no plugin handles this transport."""
        if result is None:
            raise ConfigError(
                f"no installed transport handles {self.target.transport!r}",
                fix="Use --transport docker, local or ssh (IRIS_OPS_TRANSPORT), "
                "or install the plugin that provides it.",
            )
        return result

    # -- scripts ----------------------------------------------------------------------------

    def run(self, script: Script, *, changes: bool = True, timeout: float | None = None) -> dict[str, Any]:
        """Run ``script`` and return its result object.  ``changes=False`` marks a read-only
        script, which runs even in dry-run mode."""
        if self.dry_run and changes:
            self.show(script)
            return {"ok": 1, "dry_run": True}
        started = time.monotonic()
        log.debug("script.start", purpose=script.purpose, namespace=script.namespace, steps=len(script.step_names))
        # One pass through the gate: a read-only script may run in the lock's own session as the
        # lock is taken (the gate then returns its output)
        result = self._through_gate(None if changes else script, timeout)
        if result is None:
            result = self._execute(script.render(), script.namespace, timeout)
        else:
            self._check_login(result.text)
        payload = self.parse(script, result)
        log.debug("script.done", purpose=script.purpose, seconds=round(time.monotonic() - started, 3))
        return payload

    def run_in(self, session: "OpenSession", script: Script, *, deadline: float, final: bool = False) -> dict[str, Any]:
        """Run ``script`` in an open session (:meth:`open_session`), whose process (its login,
        its variables) outlives it unless ``final``; its result, as :meth:`run` returns it.
        ``deadline``: a :func:`time.monotonic` value."""
        from iris_ops.transports.base import ExecResult

        self._through_gate()
        started = time.monotonic()
        log.debug("script.start", purpose=script.purpose, namespace=script.namespace, steps=len(script.step_names),
                  session="open")
        session.send(script.render(final=final).encode("utf-8"))
        output = session.read_until((script.markers[1].encode(),), deadline)
        self._check_login(output.decode("utf-8", "replace"))
        # the session's exit status comes only when it ends: the result's ``ok`` decides
        payload = self.parse(script, ExecResult(exit_code=0, stdout=output))
        log.debug("script.done", purpose=script.purpose, seconds=round(time.monotonic() - started, 3))
        return payload

    def parse(self, script: Script, result: "ExecResult") -> dict[str, Any]:
        output = normalise(result.text)
        begin, end = script.markers
        payload: dict[str, Any] | None = None
        start = output.find(begin)
        stop = output.find(end, start + len(begin)) if start >= 0 else -1
        if start >= 0 and stop >= 0:
            body = output[start + len(begin):stop].strip()
            try:
                loaded = json.loads(body)
                payload = loaded if isinstance(loaded, dict) else None
            except json.JSONDecodeError:
                payload = None
        ok = payload is not None and payload.get("ok") in (1, True) and result.exit_code == 0
        if ok:
            return payload
        raise self._failure(script, result, payload, output)

    def _failure(self, script: Script, result: "ExecResult", payload: dict | None, output: str) -> ScriptError:
        if payload is None:
            found = _IRIS_ERROR.findall(output)
            iris_error = found[-1].strip() if found else ""
            what = "did not report a result"
        else:
            iris_error = str(payload.get("error") or "")
            failed_step = payload.get("step") or ""
            if iris_error:
                what = f"failed at step {failed_step!r}"
            else:
                done = payload.get("steps")
                what = f"completed {done} of {len(script.step_names)} steps"
                found = _IRIS_ERROR.findall(output)
                iris_error = found[-1].strip() if found else ""
        message = f"{script.purpose} {what} (exit status {result.exit_code})"
        if iris_error:
            message += f": {iris_error}"
        return ScriptError(
            message,
            details={
                "iris_error": iris_error,
                "exit_status": result.exit_code,
                "step": (payload or {}).get("step"),
                "output_tail": tail(output + ("\n" + result.stderr.decode("utf-8", "replace") if result.stderr else "")),
                "result": payload,
            },
        )

    def check_login(self, text: str) -> None:
        """Raise the error a refused or impossible login means (see :meth:`execute`)."""
        self._check_login(text)

    def _check_login(self, text: str) -> None:
        text = normalise(text)
        where = self.target.describe()
        missing = _NO_INSTANCE.search(text)
        if missing:
            raise UnreachableError(
                f"Instance '{missing.group(1)}' not found in {where}",
                fix="List the instances with `iris qlist` (e.g. `docker exec <container> iris qlist`) and pass "
                "the right one with --instance (or IRIS_OPS_INSTANCE).",
                details={"output_tail": tail(text)},
            )
        if not self.target.username:
            if _LOGIN.search(text):
                raise AuthenticationError(
                    f"iris session on {where} asked for a login (OS authentication is off)",
                    details={"output_tail": tail(text)},
                )
            self._check_stalled(text, where)
            return
        # Credentials were sent: the prompts are expected, a refusal is not.  The terminal
        # echoes neither line, so the tail holds no password.
        if _CHANGE_REQUIRED.search(text):
            raise AuthenticationError(
                f"IRIS user {self.target.username!r} must change its password before it can log in on {where}",
                fix="Change it once (`iris-ops set-password` and `iris-ops unexpire-passwords` from the "
                "iris-ops-security plugin, run with OS authentication), or log in interactively and change it.",
                details={"output_tail": tail(text)},
            )
        if _REFUSED.search(text):
            raise AuthenticationError(
                f"iris session on {where} refused the login of IRIS user {self.target.username!r} (Access Denied)",
                fix="Check IRIS_OPS_USERNAME / IRIS_OPS_PASSWORD, and that the user is enabled.",
                details={"output_tail": tail(text)},
            )
        self._check_stalled(text, where)

    def _check_stalled(self, text: str, where: str) -> None:
        question = stalled_at_login(text, answered=bool(self.target.username))
        if question is None:
            return
        if question in ("Username:", "Password:") and self.target.username:
            what = f"asked for a login again after IRIS user {self.target.username!r} answered (refused)"
            fix = "Check IRIS_OPS_USERNAME / IRIS_OPS_PASSWORD, and that the user is enabled."
        else:
            what = f"stopped at a login prompt iris-ops does not answer ({question!r})"
            fix = ("Log in once interactively (`iris session` with a terminal) and answer it, e.g. set the new "
                   "password it asks for; or configure a user that logs in with IRIS_OPS_USERNAME / "
                   "IRIS_OPS_PASSWORD alone, or enable OS authentication.")
        raise AuthenticationError(f"iris session on {where} {what}", fix=fix, details={"output_tail": tail(text)})

    def show(self, script: Script) -> None:
        """Dry run: print what would run, and where."""
        from iris_ops import redact

        print(
            f"# dry run: would run in {self.target.describe()}: "
            f"iris session {self.target.instance} -U {script.namespace} <<'EOF'  ({script.purpose})",
            file=self.out,
        )
        self.out.write(redact.text(script.render()))
        print("EOF", file=self.out)

    def show_command(self, description: str) -> None:
        from iris_ops import redact

        print(redact.text(f"# dry run: would {description}"), file=self.out)


def require(payload: dict, key: str) -> Any:
    """A key the script promised; its absence is a bug, not a user error."""
    if key not in payload:
        raise InternalError(f"script result lacks {key!r}: {payload!r}")
    return payload[key]
