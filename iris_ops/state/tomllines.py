"""Where each key of a TOML file is: ``tomllib`` parses without positions, so an error about a key
finds its line here, in the text, by the key's full path (``("state", "databases", "APP", "size")``;
an array of tables counts its entries: ``("state", "global_mappings", 0, "name")``)."""

from __future__ import annotations

import re

__all__ = ["key_lines", "line_of"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key_parts(text: str) -> tuple[list[str], int] | None:
    """The dotted key at the start of ``text`` and where it ends; None when there is none."""
    parts: list[str] = []
    i = 0
    while True:
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text):
            return None
        if text[i] in "\"'":
            quote = text[i]
            j = i + 1
            chars: list[str] = []
            while j < len(text) and text[j] != quote:
                if quote == '"' and text[j] == "\\" and j + 1 < len(text):
                    j += 1
                chars.append(text[j])
                j += 1
            if j >= len(text):
                return None
            parts.append("".join(chars))
            i = j + 1
        else:
            bare = _BARE.match(text, i)
            if not bare:
                return None
            parts.append(bare.group())
            i = bare.end()
        while i < len(text) and text[i] in " \t":
            i += 1
        if i < len(text) and text[i] == ".":
            i += 1
            continue
        return parts, i


def key_lines(text: str) -> dict[tuple, int]:
    """Every table header and key of ``text`` -> the (1-based) line that first names it."""
    found: dict[tuple, int] = {}
    arrays: dict[tuple, int] = {}
    current: tuple = ()
    open_string = ""
    for number, line in enumerate(text.splitlines(), start=1):
        if open_string:
            if line.count(open_string) % 2:
                open_string = ""
            continue
        stripped = line.lstrip()
        if stripped.startswith("[["):
            parsed = _key_parts(stripped[2:])
            if parsed:
                path = tuple(parsed[0])
                index = arrays.get(path, -1) + 1
                arrays[path] = index
                current = (*path, index)
                found.setdefault(path, number)
                found.setdefault(current, number)
            continue
        if stripped.startswith("["):
            parsed = _key_parts(stripped[1:])
            if parsed:
                current = tuple(parsed[0])
                for end in range(1, len(current) + 1):
                    found.setdefault(current[:end], number)
            continue
        parsed = _key_parts(stripped)
        if parsed and parsed[1] < len(stripped) and stripped[parsed[1]] == "=":
            full = (*current, *parsed[0])
            for end in range(len(current) + 1, len(full) + 1):
                found.setdefault(full[:end], number)
            rest = stripped[parsed[1] + 1:]
            for quote in ('"""', "'''"):
                if rest.count(quote) % 2:
                    open_string = quote
    return found


def line_of(lines: dict[tuple, int], path: tuple) -> int:
    """The line of ``path``, or of its nearest named ancestor; 0 when none is named."""
    for end in range(len(path), 0, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 0
