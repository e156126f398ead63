"""Named targets and groups: the ``[targets.NAME]`` and ``[groups]`` tables of the project file.

A target is one instance with its own settings; a group names several targets.  The whole file
is checked whenever a target is named (``--target``, ``--targets``, ``iris-ops targets``), so a
mistake in any table is said once, naming the file and the key, before anything runs.

A target's table beats the environment (``IRIS_OPS_CONTAINER`` must not send every target to
one container) and loses to task flags: defaults < project file < ``IRIS_OPS_*`` < the target's
table < flags.
"""

from __future__ import annotations

import difflib
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from iris_ops import config
from iris_ops.errors import UsageError

__all__ = ["NAME", "TARGET_KEYS", "NOT_PER_TARGET", "INSTALL_FLEET", "TargetEntry", "Fleet", "load",
           "require_fleet_extra"]

#: A target's name: it becomes a directory name under ``backup --out``.
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
#: Keys of a target's table that are not settings.
TARGET_KEYS = ("host", "accept_new_host_key")
#: Settings that belong to a run, not to an instance: never in a target's table.
NOT_PER_TARGET = frozenset({"log_format", "log_level", "disable_plugins", "fixtures_dir",
                            "ssh_host"})  # a target says host
INSTALL_FLEET = "pip install 'iris-ops[fleet]'"
_EXAMPLE = 'For example:\n  [targets.ci-1]\n  container = "iris"\n\n  [groups]\n  ci = ["ci-1", "ci-2"]'


@dataclass(frozen=True)
class TargetEntry:
    """One ``[targets.NAME]`` table: its settings, and its SSH destination when it has one."""

    name: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    host: str = ""
    accept_new_host_key: bool = False

    @property
    def transport(self) -> str:
        return "ssh" if self.host else str(self.settings.get("transport", ""))


@dataclass(frozen=True)
class Fleet:
    """The targets and groups of one project file (``path`` None: there is none)."""

    path: Path | None
    targets: Mapping[str, TargetEntry]
    groups: Mapping[str, tuple[str, ...]]

    def _where(self) -> str:
        return str(self.path) if self.path else "no project file"

    def names(self) -> list[str]:
        """Every target, in the file's order (``--all-targets``)."""
        if not self.targets:
            raise UsageError(f"no targets are defined ({self._where()})",
                             fix=f"Add [targets.NAME] tables to iris-ops.toml. {_EXAMPLE}")
        return list(self.targets)

    def resolve(self, spec: str) -> list[str]:
        """``a,grp,b`` as target names, each once, in the order named (a group's in its order)."""
        words = [word.strip() for word in str(spec).split(",") if word.strip()]
        if not words:
            raise UsageError("--targets needs target or group names, e.g. --targets ci-1,staging",
                             fix="`iris-ops targets` lists them; --all-targets names every target.")
        chosen: dict[str, None] = {}
        for word in words:
            if word in self.targets:
                chosen[word] = None
            elif word in self.groups:
                chosen.update(dict.fromkeys(self.groups[word]))
            else:
                raise self._unknown(word)
        return list(chosen)

    def entry(self, name: str) -> TargetEntry:
        if name not in self.targets:
            raise self._unknown(name, groups=False)
        return self.targets[name]

    def _unknown(self, word: str, groups: bool = True) -> UsageError:
        known = [*self.targets, *(self.groups if groups else ())]
        close = difflib.get_close_matches(word, known, n=1)
        what = "target or group" if groups else "target"
        hint = f"Did you mean {close[0]}? " if close else ""
        listed = ", ".join(known) or "none"
        return UsageError(f"no {what} named {word!r} in {self._where()}",
                          fix=f"{hint}Known: {listed} (`iris-ops targets` lists them).")

    def settings_for(self, name: str, settings: config.Settings) -> config.Settings:
        """``settings`` for the named target: its table over them (a host makes transport ssh)."""
        entry = self.entry(name)
        table = dict(entry.settings)
        if entry.host:  # the ssh transport's own settings: the same as for one instance over SSH
            table.update(transport="ssh", ssh_host=entry.host)
            if entry.accept_new_host_key:
                table["accept_new_host_key"] = True
        named = config.NamedTarget(name, entry.host, entry.accept_new_host_key)
        return settings.for_target(named, table, source=f"{self._where()} [targets.{name}]")


def require_fleet_extra(entries: "list[TargetEntry] | tuple[TargetEntry, ...]") -> None:
    """Exit 2 with the install line when a target is reached over SSH and Fabric is missing."""
    remote = [entry for entry in entries if entry.host]
    if remote and importlib.util.find_spec("fabric") is None:
        names = ", ".join(entry.name for entry in remote)
        raise UsageError(f"target {names} is reached over SSH (host = ...), which needs Fabric, and it is not installed",
                         fix=f"Install it: {INSTALL_FLEET}")


def load(settings: config.Settings) -> Fleet:
    """The targets and groups of the project file ``settings`` came from, every table checked
    (exit 2 naming the file and the key).  ``settings`` (plugins' settings included) says which
    keys a target's table may hold."""
    path = settings.project_file
    if path is None:
        return Fleet(None, {}, {})
    found = config.find_project_file(path.parent)
    table = found[1] if found and found[0] == path else {}
    prefix = "tool.iris-ops." if path.name == "pyproject.toml" else ""
    raw_targets = table.get("targets", {})
    if not isinstance(raw_targets, dict):
        raise _bad(path, f"{prefix}targets", "must be a table of [targets.NAME] tables")
    targets = {name: _entry(path, prefix, name, raw, settings) for name, raw in raw_targets.items()}
    fleet = Fleet(path, targets, {})
    for name in targets:  # each table's values have the type and range of their setting
        fleet.settings_for(name, settings)
    groups = _groups(path, prefix, table.get("groups", {}), targets)
    return Fleet(path, targets, groups)


def _bad(path: Path, key: str, problem: str, fix: str | None = None) -> UsageError:
    return UsageError(f"{path}: {key} {problem}", fix=fix or f"Fix {key} in {path}. {_EXAMPLE}")


def _entry(path: Path, prefix: str, name: str, raw: Any, settings: config.Settings) -> TargetEntry:
    key = f"{prefix}targets.{name}"
    if not NAME.match(name):
        raise _bad(path, key, "is not a valid target name",
                   fix="Target names are 1-63 letters, digits, '_', '.' or '-', a letter or digit first "
                       "(they become directory names under backup --out).")
    if not isinstance(raw, dict):
        raise _bad(path, key, "must be a table ([targets.NAME] with settings in it)")
    allowed = (set(settings) - NOT_PER_TARGET) | set(TARGET_KEYS)
    values: dict[str, Any] = {}
    for raw_key, value in raw.items():
        setting = raw_key.replace("-", "_")
        if setting in config.SECRET_SETTINGS:
            raise _bad(path, f"{key}.{raw_key}", "is a secret and is not read from project files",
                       fix=config.SECRET_FIX)
        if setting not in allowed:
            close = difflib.get_close_matches(setting, sorted(allowed), n=1)
            hint = f"Did you mean {close[0]}? " if close else ""
            raise _bad(path, f"{key}.{raw_key}", "is not a key a target takes",
                       fix=f"{hint}A target takes: {', '.join(sorted(allowed))}.")
        values[setting] = value
    host = values.pop("host", "")
    accept = values.pop("accept_new_host_key", False)
    if not isinstance(host, str) or (host and (host != host.strip() or any(ch.isspace() for ch in host))):
        raise _bad(path, f"{key}.host", f"must be an SSH destination (name, alias or user@host:port), got {host!r}")
    if not isinstance(accept, bool):
        raise _bad(path, f"{key}.accept_new_host_key", f"must be true or false, got {accept!r}")
    if not host and values.get("transport") == "ssh":
        raise _bad(path, f"{key}.transport", "is 'ssh', but the target has no host to reach",
                   fix=f'Add host = "user@host" to [targets.{name}] (transport is then ssh by itself).')
    if host and values.get("transport", "ssh") != "ssh":
        raise _bad(path, f"{key}.transport", f"is {values['transport']!r}, but a target with a host is reached over ssh",
                   fix=f"Remove transport from [targets.{name}] (host means ssh), or remove host.")
    return TargetEntry(name, values, host, accept)


def _groups(path: Path, prefix: str, raw: Any, targets: Mapping[str, TargetEntry]) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, dict):
        raise _bad(path, f"{prefix}groups", "must be a table of name = [target, ...]")
    groups: dict[str, tuple[str, ...]] = {}
    for name, members in raw.items():
        key = f"{prefix}groups.{name}"
        if name in targets:
            raise _bad(path, key, f"names a group and a target ([targets.{name}])",
                       fix="Give the group or the target another name: --targets must mean one thing.")
        if not NAME.match(name):
            raise _bad(path, key, "is not a valid group name",
                       fix="Group names are 1-63 letters, digits, '_', '.' or '-', a letter or digit first.")
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise _bad(path, key, "must be a list of target names")
        if not members:
            raise _bad(path, key, "is empty", fix=f"Name at least one target in {key}, or remove it.")
        for member in members:
            if member not in targets:
                close = difflib.get_close_matches(member, list(targets), n=1)
                hint = f"Did you mean {close[0]}? " if close else ""
                raise _bad(path, key, f"names {member!r}, which is no target",
                           fix=f"{hint}Groups hold targets defined as [targets.NAME]: "
                               f"{', '.join(targets) or 'none yet'}.")
        groups[name] = tuple(dict.fromkeys(members))
    return groups
