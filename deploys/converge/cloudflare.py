"""A remotely managed tunnel's ingress, kept at Cloudflare (FIELD-NOTES.md, Cloudflare Tunnel):

  GET/PUT {api_url}/accounts/{account_id}/cfd_tunnel/{tunnel_id}/configurations
  PUT body {"config": {"ingress": [..., {"service": "http_status:404"}]}}

The deploy reads the current ingress and pushes the catalog's only when it differs. The API
token comes from the environment of the machine running the deploy (tunnel.api_token_env):
never from git, never on a command line, never printed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import requests

from deploys.catalog import Catalog
from deploys.render.ingress import tunnel_rules

RULE_KEYS = ("hostname", "path", "service")


class CloudflareError(Exception):
    """The API refused or could not be reached (the message never holds the token)."""


def desired_ingress(catalog: Catalog) -> list[dict[str, str]]:
    return [rule.as_config() for rule in tunnel_rules(catalog)]


def normalized(ingress: list[dict] | None) -> list[dict[str, str]]:
    """Only what the catalog decides (Cloudflare adds originRequest and the like)."""
    return [{k: rule[k] for k in RULE_KEYS if rule.get(k) not in (None, "")} for rule in ingress or []]


@dataclass
class TunnelAPI:
    api_url: str
    account_id: str
    tunnel_id: str
    token: str
    timeout_s: float = 15.0

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> TunnelAPI:
        t = catalog.tunnel
        token = os.environ.get(t["api_token_env"], "")
        if not token:
            raise CloudflareError(f"tunnel.mode is 'remote': set {t['api_token_env']} to a Cloudflare API "
                                  "token (Account > Cloudflare Tunnel > Edit) in the deploy's environment")
        return cls(t["api_url"].rstrip("/"), t["account_id"], t["id"], token)

    @property
    def url(self) -> str:
        return f"{self.api_url}/accounts/{self.account_id}/cfd_tunnel/{self.tunnel_id}/configurations"

    def _call(self, method: str, **kwargs) -> dict:
        try:
            resp = requests.request(method, self.url, timeout=self.timeout_s,
                                    headers={"Authorization": f"Bearer {self.token}"}, **kwargs)
        except requests.RequestException as exc:
            raise CloudflareError(f"{method} {self.url}: {type(exc).__name__}") from None
        try:
            body = resp.json()
        except ValueError:
            body = {}
        if resp.status_code >= 400 or not body.get("success", False):
            errors = "; ".join(str(e.get("message", e)) for e in body.get("errors", [])) or resp.reason
            raise CloudflareError(f"{method} {self.url}: HTTP {resp.status_code}: {errors}")
        return body.get("result") or {}

    def current_ingress(self) -> list[dict[str, str]]:
        result = self._call("GET")
        return normalized((result.get("config") or {}).get("ingress"))

    def push(self, ingress: list[dict[str, str]]) -> None:
        self._call("PUT", json={"config": {"ingress": ingress}})
