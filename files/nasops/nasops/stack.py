"""The stack's description (ops/stack.json): what the deploy rendered from the catalog."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FORMAT = 1
DEFAULT_PATH = "ops/stack.json"


class DescriptionError(Exception):
    """The description is missing or not one this program reads."""


@dataclass(frozen=True)
class Service:
    name: str
    health_host: str | None  # the hostname its health route is asked by, through the edge
    health_path: str | None
    http_status: int
    gate_timeout_s: int  # how long the release's gate waits for it


@dataclass(frozen=True)
class Route:
    name: str
    hostname: str
    path: str
    service: str
    expect: int | None  # None: any answer below 500


@dataclass(frozen=True)
class Stack:
    """The description, with the paths it names made absolute under deploy_root."""

    raw: dict[str, Any]
    services: tuple[Service, ...]
    routes: tuple[Route, ...]

    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "Stack":
        path = Path(path or os.environ.get("NASOPS_STACK") or DEFAULT_PATH)
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            raise DescriptionError(f"{path}: no stack description (a deploy writes it: make deploy)") from None
        except ValueError as e:
            raise DescriptionError(f"{path}: not JSON ({e}): redeploy to rewrite it") from None
        if os.environ.get("NASOPS_EDGE_URL"):  # the swarm's scheduler: the edge by its service name
            raw["edge_url"] = os.environ["NASOPS_EDGE_URL"]
        if raw.get("format") != FORMAT:
            raise DescriptionError(f"{path}: format {raw.get('format')!r}, this program reads {FORMAT}: "
                                   "the deploy and the program disagree (redeploy)")
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "Stack":
        return cls(raw, tuple(Service(**s) for s in raw["services"]), tuple(Route(**r) for r in raw["routes"]))

    def __getattr__(self, key: str) -> Any:  # project, target, engine, alerts, ...: the description's own keys
        try:
            return self.raw[key]
        except KeyError:
            raise AttributeError(key) from None

    @property
    def root(self) -> Path:
        return Path(self.raw["deploy_root"])

    def path(self, key: str) -> Path:
        """A folder of `paths` (monitor, integration, releases, status_dir) under deploy_root."""
        return self.root / self.raw["paths"][key]

    def audit(self, text: str) -> None:
        """A line of the target's audit log (releases/audit.log): what changed, when."""
        from nasops import clock

        with open(self.file(self.raw["paths"]["audit_log"]), "a") as f:
            f.write(f"{clock.iso(clock.now())} {text}\n")

    def file(self, relative: str) -> Path:
        """A file named relative to deploy_root (a secret's, say)."""
        return self.root / relative
