"""Answering ``iris session``'s login, and nothing but its login.

Whether ``iris session`` asks for a login shows only in what it prints: with OS authentication
on (the official images) it shows its terminal prompt at once; with it off it asks ``Username:``
and then ``Password:``.  Typing both lines ahead of the script, blind, runs them as ObjectScript
where no login is asked: the password becomes a failing line of code, echoed in the session's
error display, in its output and in every error that quotes the end of it.  So every transport
reads the session's output as it comes and :func:`converse` does this:

* the username is typed only in answer to a ``Username:`` prompt it saw, and the password only
  in answer to the ``Password:`` prompt that follows it; neither is ever sent as a line of code;
* the script is sent only once the session shows its terminal prompt (a last line ending in
  ``>``: ``USER>``, ``TL1:USER>``, or a configured prompt), so no script line is ever typed into
  a login prompt either;
* any other question (a last line ending in ``:`` that stays there, whatever it says: a password
  change, a second ``Username:`` after a refusal, a wording we do not know) is answered with
  nothing: the transport closes the session's input, the session ends, and the runner reports a
  login failure (exit 6, :meth:`iris_ops.runner.Runner.check_login`).

The single-call form (``iris session IRIS -U NS "entry"``) shows no terminal prompt: there the
conversation answers the login prompts the same way, and stops at the first thing that is not one.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["QUIET", "SETTLE", "USERNAME_PROMPT", "PASSWORD_PROMPT", "Exchange", "converse"]

#: What :meth:`Exchange.read` returns when ``settle`` seconds passed with no new output.
QUIET = object()
#: Seconds a last line ending in ``:`` must stay the last output to count as a question: IRIS
#: writes a prompt and then waits, while a ``:`` inside a message is followed by more at once.
SETTLE = 0.5

USERNAME_PROMPT = "Username:"
PASSWORD_PROMPT = "Password:"


class Exchange(Protocol):
    """What a transport lends :func:`converse`: the session's stdin and its output as it comes."""

    def send(self, data: bytes) -> None:
        """Write ``data`` to the session's stdin."""

    def read(self, deadline: float, settle: float | None = None) -> "bytes | None | object":
        """The next output (bytes), None once the session ended, or :data:`QUIET` when ``settle``
        seconds passed with none.  Past ``deadline`` raise :class:`iris_ops.errors.DeadlineExceeded`."""


def _last_line(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rsplit("\n", 1)[-1].rstrip(" ")


def _state(text: str) -> str:
    last = _last_line(text)
    if last == USERNAME_PROMPT:
        return "username"
    if last == PASSWORD_PROMPT:
        return "password"
    if last.endswith(">"):
        return "ready"
    if last.endswith(":"):
        return "question"
    return "more"


def converse(exchange: Exchange, username: str, password: str, deadline: float, *,
             interactive: bool = True) -> tuple[bytes, bool]:
    """Read the session's output until it is ready for the script (``interactive``: its terminal
    prompt), answering ``Username:`` and ``Password:`` once each when a username is configured.
    Returns the output read and whether the session is ready; False when it ended, or stopped at
    a prompt we do not answer (the caller then closes its stdin and sends nothing).  Without
    ``interactive`` (the single-call form) it returns True right after the password answer, or
    at the first output that is no login prompt."""
    output = bytearray()
    seen = 0  # prompts are looked for in what came after our last answer
    sent_user = sent_password = False
    while True:
        state = _state(output[seen:].decode("utf-8", "replace"))
        if state == "username" and username and not sent_user:
            exchange.send(username.encode("utf-8") + b"\n")
            sent_user, seen = True, len(output)
            continue
        if state == "password" and sent_user and not sent_password:
            exchange.send(password.encode("utf-8") + b"\n")
            sent_password, seen = True, len(output)
            if not interactive:
                return bytes(output), True
            continue
        if state in ("username", "password"):
            return bytes(output), False  # not ours to answer, or asked again: refused
        if state == "ready" and interactive:
            return bytes(output), True
        if not interactive and output[seen:].strip() and state != "question":
            return bytes(output), True  # the call's own output: no login was asked
        chunk = exchange.read(deadline, SETTLE if state == "question" else None)
        if chunk is None or chunk is QUIET:
            # ended; or a question that stays: a login prompt we do not answer
            return bytes(output), False
        output += chunk
