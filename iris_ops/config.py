"""Settings, and where each value came from.

Precedence rises from built-in defaults (and defaults added by plugins through the
``config_defaults`` hook), to the project file (``iris-ops.toml``, or ``[tool.iris-ops]`` in
``pyproject.toml``, found by walking up from the current directory), to ``IRIS_OPS_<NAME>``
environment variables, to task flags.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping

from iris_ops.errors import ConfigError

__all__ = [
    "ENV_PREFIX", "PROJECT_FILE", "CORE_SETTINGS", "SECRET_SETTINGS", "SECRET_FIX", "POSITIVE",
    "IRIS_FREEZE_TIMEOUT_DEFAULT", "Value", "Settings", "find_project_file", "load",
    "IRIS_FREEZE_TIMEOUT_MAX", "MAXIMUM", "STATE_TABLE", "FLEET_TABLES", "NamedTarget",
]

ENV_PREFIX = "IRIS_OPS_"
PROJECT_FILE = "iris-ops.toml"
#: The project file's table of the desired state (``iris-ops plan``), which is not a setting.
STATE_TABLE = "state"

#: name -> (default, help).  The type of each setting is the type of its default.
CORE_SETTINGS: dict[str, tuple[Any, str]] = {
    "transport": ("docker", "how to reach the instance: docker (the SDK), local (`iris` on this host) or ssh "
                            "(on the host `ssh_host`, natively or in `container` there)"),
    "container": ("", "the IRIS container's name or id (docker transport; ssh: a container on that host)"),
    "instance": ("IRIS", "the IRIS instance name inside the container"),
    "docker_host": ("", "Docker engine URL; empty means DOCKER_HOST or the docker defaults"),
    "owner": ("irisowner", "OS user that owns instance files; restored files are chowned to it"),
    "iris_command": ("iris", "the `iris` executable for the local transport"),
    "timeout": (120.0, "seconds one ObjectScript session may take"),
    "transfer_timeout": (3600.0, "seconds one file transfer may take"),
    "freeze_limit": (300, "WDSuspendLimit: seconds after which the write daemon resumes by itself if iris-ops "
                          "dies; a copy not finished by then fails (above 0, at most freeze_timeout)"),
    "freeze_timeout": (0, "ExternalFreezeTimeOut: seconds processes may keep updating while the write daemon "
                          "is suspended before IRIS blocks them; 0 means IRIS's default of 600, at most 1200"),
    "log_format": ("auto", "auto (console on a TTY, JSON otherwise), console or json"),
    "log_level": ("info", "debug, info, warning or error"),
    "disable_plugins": ([], "plugin names not to load (entry-point names or built-in module names)"),
    "fixtures_dir": ("fixtures", "where `backup` writes and `validate`/`restore` find fixtures by name; "
                     "relative to the project file's directory when there is one"),
    "fixture_check": ("changed", "how a restore checks the fixture's files when the instance's fixture cache serves "
                                 "them: changed (read a file whole unless it is the very file an earlier read found "
                                 "right) or always (read every byte every time)"),
    "ssh_host": ("", "the instance's host for the ssh transport: a name, an ssh_config alias or user@host:port"),
    "accept_new_host_key": (False, "ssh transport: add an unknown host key to known_hosts, like OpenSSH's "
                                   "StrictHostKeyChecking=accept-new (a changed key is refused all the same)"),
    "username": ("", "IRIS user for instances without OS authentication (iris session asks for a login)"),
    "password": ("", "that user's password: a secret, read from IRIS_OPS_PASSWORD only"),
    "ssh_config": ("~/.ssh/config", "the OpenSSH client configuration SSH targets are reached with; relative to the "
                   "project file's directory when there is one"),
    "known_hosts": ("~/.ssh/known_hosts", "the host keys SSH targets must present; relative to the project file's "
                    "directory when there is one"),
}

#: Tables of the project file that are not settings: named targets and their groups, read by
#: :mod:`iris_ops.fleet`.
FLEET_TABLES = ("targets", "groups")

#: Settings that hold secrets: read from the environment only (never a task flag, never the
#: project file, which ends up in version control), and shown masked.
SECRET_SETTINGS = frozenset({"password"})
SECRET_FIX = "Set it in the environment only (IRIS_OPS_PASSWORD), e.g. from your CI's secret store."


#: Settings that must be above 0 (0 would mean "no time at all", or for freeze_limit "never").
POSITIVE = {
    "timeout": "0 leaves no time for any session",
    "transfer_timeout": "0 leaves no time for any transfer",
    "freeze_limit": "0 means the write daemon never resumes by itself if iris-ops dies",
}
#: ExternalFreezeTimeOut when 0 is passed (Backup.General.ExternalFreeze) [DOC].
IRIS_FREEZE_TIMEOUT_DEFAULT = 600
#: ExternalFreezeTimeOut's maximum: IRIS uses a larger value as 1200 (IRIS.md section 4), so a
#: larger freeze_timeout would promise users a window they do not get.
IRIS_FREEZE_TIMEOUT_MAX = 1200
#: Settings with an upper bound: name -> (maximum, why).
MAXIMUM = {
    "freeze_timeout": (IRIS_FREEZE_TIMEOUT_MAX, "IRIS caps ExternalFreezeTimeOut at 1200 s and uses a larger "
                                                "value as 1200"),
}


def _freeze_fix(limit: float) -> str:
    """How to make freeze_limit fit the window IRIS can give, which is at most 1200 s."""
    if limit > IRIS_FREEZE_TIMEOUT_MAX:
        return (f"Lower freeze_limit (IRIS_OPS_FREEZE_LIMIT) to at most {IRIS_FREEZE_TIMEOUT_MAX} and set "
                f"freeze_timeout to at least that: IRIS caps ExternalFreezeTimeOut at {IRIS_FREEZE_TIMEOUT_MAX} s.")
    return (f"Set freeze_timeout (IRIS_OPS_FREEZE_TIMEOUT) to at least {limit:g} (at most "
            f"{IRIS_FREEZE_TIMEOUT_MAX}), or lower freeze_limit.")


@dataclass(frozen=True)
class Value:
    value: Any
    source: str


@dataclass(frozen=True)
class NamedTarget:
    """The named target (``[targets.NAME]``) settings were resolved for: what the target's table
    says beyond settings (its SSH destination), carried to :class:`iris_ops.transports.base.Target`."""

    name: str
    host: str = ""
    accept_new_host_key: bool = False


class Settings(Mapping[str, Any]):
    """Effective settings: a read-only mapping of name -> value, plus :meth:`source`."""

    def __init__(self, values: dict[str, Value], help: dict[str, str], project_file: Path | None = None,
                 named: NamedTarget | None = None) -> None:
        self._values = values
        self._help = help
        #: The project file the values came from, if any.
        self.project_file = project_file
        #: The named target these settings are for (``--target NAME``), or None.
        self.named = named

    def __getitem__(self, name: str) -> Any:
        return self._values[name].value

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name].value
        except KeyError:
            raise AttributeError(name) from None

    def __iter__(self):
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def source(self, name: str) -> str:
        return self._values[name].source

    def help(self, name: str) -> str:
        return self._help.get(name, "")

    def path(self, name: str) -> Path:
        """A path setting, made absolute against the project file's directory (or the current one)."""
        value = Path(str(self[name])).expanduser()
        if value.is_absolute():
            return value
        base = self.project_file.parent if self.project_file is not None else Path.cwd()
        return base / value

    def require_consistent(self) -> "Settings":
        """These settings, once the rules between them hold (checked once every source is applied).
        Raises ConfigError."""
        if {"freeze_limit", "freeze_timeout"} <= set(self._values):
            limit = self.freeze_limit
            blocks_after = self.freeze_timeout or IRIS_FREEZE_TIMEOUT_DEFAULT
            if limit > blocks_after:
                raise ConfigError(
                    f"freeze_limit ({limit} s, from {self.source('freeze_limit')}) is longer than the time IRIS lets "
                    f"processes keep updating during a freeze (freeze_timeout -> ExternalFreezeTimeOut: "
                    f"{blocks_after} s, from {self.source('freeze_timeout')}): the instance's users would block "
                    "for the rest of the freeze",
                    fix=_freeze_fix(limit),
                )
        return self

    def display(self, name: str) -> Any:
        """The value as it may be shown: a secret that is set (``password``, any ``*password``,
        ``*secret`` or ``*token`` setting, or one a plugin declared) reads ``***``."""
        from iris_ops import redact

        value = self[name]
        return redact.MASK if (name in SECRET_SETTINGS or redact.is_secret(name)) and value else value

    def with_overrides(self, overrides: Mapping[str, Any], source: str = "flag") -> "Settings":
        """A copy with ``overrides`` applied on top (None values are ignored)."""
        values = dict(self._values)
        for name, raw in overrides.items():
            if raw is None:
                continue
            if name not in values:
                raise ConfigError(f"unknown setting {name!r}")
            if name in SECRET_SETTINGS and source == "flag":
                raise ConfigError(f"setting {name!r} is a secret and never a task flag", fix=SECRET_FIX)
            origin = "--" + name.replace("_", "-") if source == "flag" else source
            values[name] = Value(_coerce(name, raw, values[name].value, origin), source)
        _remember_secrets(values, {})
        return Settings(values, self._help, self.project_file, self.named)

    def for_target(self, named: NamedTarget, table: Mapping[str, Any], source: str) -> "Settings":
        """A copy for the named target: its table's settings over these (``source`` says where
        the table is, for messages), the target remembered in :attr:`named`."""
        return Settings(self.with_overrides(table, source=source)._values, self._help, self.project_file, named)


def find_project_file(start: Path | None = None) -> tuple[Path, dict] | None:
    """The nearest ``iris-ops.toml`` or ``pyproject.toml`` with ``[tool.iris-ops]``."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / PROJECT_FILE
        if candidate.is_file():
            return candidate, _read_toml(candidate)
        pyproject = directory / "pyproject.toml"
        if pyproject.is_file():
            table = _read_toml(pyproject).get("tool", {}).get("iris-ops")
            if table is not None:
                return pyproject, table
    return None


def load(
    plugin_defaults: Iterable[tuple[str, Mapping[str, Any]]] = (),
    environ: Mapping[str, str] | None = None,
    start: Path | None = None,
) -> Settings:
    """Resolve settings from every source except task flags (see :meth:`Settings.with_overrides`)."""
    environ = os.environ if environ is None else environ
    values = {name: Value(default, "default") for name, (default, _) in CORE_SETTINGS.items()}
    help = {name: text for name, (_, text) in CORE_SETTINGS.items()}
    for plugin_name, defaults in plugin_defaults:
        for name, default in (defaults or {}).items():
            values[name] = Value(default, f"plugin {plugin_name}")
            help.setdefault(name, f"added by plugin {plugin_name}")

    found = find_project_file(start)
    project_file = found[0] if found else None
    if found:
        path, table = found
        for key, raw in table.items():
            if key == STATE_TABLE:
                continue  # the desired state, not a setting: iris_ops.state reads it
            name = key.replace("-", "_")
            if name in FLEET_TABLES:
                continue
            if name not in values:
                raise ConfigError(
                    f"{path}: unknown setting {key!r}",
                    fix=f"Known settings: {', '.join(sorted(values))}.",
                )
            if name in SECRET_SETTINGS:
                raise ConfigError(f"{path}: {key!r} is a secret and is not read from project files", fix=SECRET_FIX)
            values[name] = Value(_coerce(name, raw, values[name].value, str(path)), f"file {path}")

    for name in list(values):
        env_name = ENV_PREFIX + name.upper()
        if env_name in environ:
            values[name] = Value(
                _coerce(name, environ[env_name], values[name].value, env_name), f"env {env_name}"
            )
    _remember_secrets(values, environ)
    return Settings(values, help, project_file)


def _remember_secrets(values: Mapping[str, Value], environ: Mapping[str, str]) -> None:
    from iris_ops import redact

    redact.remember_environment(environ)
    for name, held in values.items():
        if redact.is_secret(name):
            redact.remember(held.value)


def _read_toml(path: Path) -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _coerce(name: str, raw: Any, default: Any, origin: str) -> Any:
    """Give ``raw`` the type of the setting's default; strings come from env vars and flags."""
    kind = type(default)
    try:
        if kind is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in {"1", "true", "yes", "on"}:
                return True
            if text in {"0", "false", "no", "off", ""}:
                return False
            raise ValueError(raw)
        if kind is list:
            if isinstance(raw, (list, tuple)):
                return [str(item) for item in raw]
            return [part.strip() for part in str(raw).split(",") if part.strip()]
        if kind in (int, float):
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = kind(raw)
            if value != value or value in (float("inf"), float("-inf")) or value < 0:
                raise ValueError(raw)
            if name in POSITIVE and value <= 0:
                raise ConfigError(
                    f"{origin}: setting {name!r} must be above 0, got {raw!r}: {POSITIVE[name]}",
                    fix=f"Pass a number above 0 to {origin}." if origin.startswith("--")
                    else f"Set {name} to a number above 0.",
                )
            if name in MAXIMUM and value > MAXIMUM[name][0]:
                top, why = MAXIMUM[name]
                raise ConfigError(
                    f"{origin}: setting {name!r} must be between 0 and {top} seconds, got {raw!r}: {why}",
                    fix=f"Set {name} to at most {top} (0 means IRIS's default of {IRIS_FREEZE_TIMEOUT_DEFAULT}).",
                )
            return value
        if isinstance(raw, (dict, list)):
            raise ValueError(raw)
        return str(raw)
    except (TypeError, ValueError):
        from iris_ops import redact

        wanted = "a non-negative number" if kind in (int, float) else f"a {kind.__name__}"
        got = redact.MASK if redact.is_secret(name) else repr(raw)
        raise ConfigError(
            f"{origin}: setting {name!r} must be {wanted}, got {got}",
            fix=f"Pass {wanted} to {origin}." if origin.startswith("--") else None,
        ) from None
