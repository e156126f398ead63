"""``SimClient``: the simulated engine's control API (``/_sim/...``) from Python.

Docker's own API is for the docker SDK and CLI; this client reaches what Docker has no API for:
adding and stopping containers, SQL against the simulated instance, a background writer,
integrity checks and seeding.  Stdlib only (no docker, no requests), so it is cheap to import.
"""

from __future__ import annotations

import http.client
import json
import socket
from typing import Any
from urllib.parse import quote

from iris_ops.errors import ConflictError, InstanceError, UnreachableError, UsageError


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def socket_path(base_url: str) -> str:
    for prefix in ("unix://", "http+unix://"):
        if base_url.startswith(prefix):
            return base_url[len(prefix):]
    if base_url.startswith("/"):
        return base_url
    raise UsageError(f"the simulated engine listens on a unix socket; {base_url!r} is not a unix:// URL")


class SimClient:
    """``SimClient("unix:///tmp/iris-ops-sim-0/engine.sock")``."""

    def __init__(self, base_url: str, timeout: float = 60.0) -> None:
        self.base_url = base_url
        self.path = socket_path(base_url)
        self.timeout = timeout

    # --- transport ----------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        conn = _UnixConnection(self.path, self.timeout)
        try:
            payload = None if body is None else json.dumps(body).encode()
            headers = {"Content-Type": "application/json"} if payload is not None else {}
            try:
                conn.request(method, path, body=payload, headers=headers)
                response = conn.getresponse()
                raw = response.read()
            except (FileNotFoundError, ConnectionRefusedError) as exc:
                raise UnreachableError(
                    f"the simulated engine is not running at {self.base_url}",
                    fix="Start it with `iris-ops sim up` (or use the sim_engine pytest fixture).",
                ) from exc
            except (OSError, http.client.HTTPException) as exc:
                raise UnreachableError(f"the simulated engine at {self.base_url} failed: {exc}") from exc
        finally:
            conn.close()
        data = json.loads(raw) if raw.strip() else None
        if response.status >= 400:
            message = (data or {}).get("message", raw.decode(errors="replace")) if isinstance(data, dict) else str(data)
            if response.status == 404:
                raise UsageError(message, fix="Check the container name (`iris-ops sim status`).")
            if response.status == 409:
                raise ConflictError(message)
            if response.status == 400:
                raise UsageError(message)
            raise InstanceError(message, details={"status": response.status})
        return data

    def _c(self, container: str, *rest: str) -> str:
        return "/_sim/containers/" + "/".join(quote(p, safe="") for p in (container, *rest))

    # --- engine and containers ----------------------------------------------------------------

    def ping(self) -> dict[str, Any]:
        return self._request("GET", "/_sim/ping")

    def shutdown(self) -> None:
        self._request("POST", "/_sim/shutdown")

    def containers(self) -> list[dict[str, Any]]:
        return self._request("GET", "/_sim/containers")

    def container(self, name: str) -> dict[str, Any]:
        return self._request("GET", self._c(name))

    def add_container(self, name: str = "iris", instance: str = "IRIS") -> dict[str, Any]:
        return self._request("POST", "/_sim/containers", {"name": name, "instance": instance})

    def stop_container(self, name: str) -> dict[str, Any]:
        return self._request("POST", self._c(name, "stop"))

    def start_container(self, name: str) -> dict[str, Any]:
        return self._request("POST", self._c(name, "start"))

    def remove_container(self, name: str) -> None:
        self._request("DELETE", self._c(name))

    # --- the instance -------------------------------------------------------------------------

    def sql(self, container: str, namespace: str, statement: str) -> dict[str, Any]:
        """``{"columns": [...], "rows": [[...], ...], "rowcount": n}``."""
        return self._request("POST", self._c(container, "sql"), {"namespace": namespace, "statement": statement})

    def start_writer(self, container: str, namespace: str, table: str, column: str, interval: float = 0.01) -> str:
        """Start a background writer updating ``table.column``; returns its id."""
        spec = {"namespace": namespace, "table": table, "column": column, "interval": interval}
        return self._request("POST", self._c(container, "writers"), spec)["id"]

    def stop_writer(self, container: str, writer_id: str) -> int | None:
        """Stop the writer; returns how many updates it made."""
        return self._request("DELETE", self._c(container, "writers", writer_id)).get("updates")

    def integrity(self, container: str, directory: str) -> list[str]:
        """Problems found in the database at ``directory`` (``[]`` when sound)."""
        return self._request("POST", self._c(container, "integrity"), {"directory": directory})["problems"]

    def create_namespace(self, container: str, name: str, globals_db: str, routines_db: str | None = None) -> None:
        spec = {"name": name, "globals_db": globals_db, "routines_db": routines_db}
        self._request("POST", self._c(container, "namespaces"), spec)

    def create_database(self, container: str, name: str, directory: str | None = None, size_mb: int = 1) -> Any:
        spec = {"name": name, "directory": directory, "size_mb": size_mb}
        return self._request("POST", self._c(container, "databases"), spec).get("result")
