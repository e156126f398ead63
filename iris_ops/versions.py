"""IRIS versions: ``$ZVERSION`` parsed into product, version and build, and compared.

``$ZVERSION`` reads like ``IRIS for UNIX (Ubuntu Server LTS for x86-64 Containers) 2024.1 (Build
263U) Wed Mar 13 2024 15:21:28 EDT``: the product, "for", the platform, the version (two to four
numbers) and the build in parentheses.  IRIS.md §7: a database written by a newer version is not
guaranteed to mount on an older one, so a restore compares the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["IrisVersion", "parse"]

_ZV = re.compile(
    r"^(?P<product>.+?) for (?P<platform>.+?) (?P<version>\d+(?:\.\d+){1,3}) \(Build (?P<build>[^)]+)\)"
)


@dataclass(frozen=True)
class IrisVersion:
    product: str
    version: str
    build: str

    @property
    def key(self) -> tuple:
        """Sortable: the version's numbers (missing ones count as 0), then the build's number."""
        numbers = [int(n) for n in self.version.split(".")]
        numbers += [0] * (4 - len(numbers))
        build = re.match(r"\d+", self.build)
        return (*numbers, int(build.group()) if build else 0)

    def older_than(self, other: "IrisVersion") -> bool:
        return self.key < other.key

    def __str__(self) -> str:
        return f"{self.product} {self.version} (Build {self.build})"


def parse(zversion: str | None) -> IrisVersion | None:
    """``$ZVERSION`` parsed, or None when it does not read like one."""
    match = _ZV.match((zversion or "").strip())
    if not match:
        return None
    return IrisVersion(match["product"].strip(), match["version"], match["build"].strip())
