"""The catalog as Kubernetes manifests (`make render TARGET=k8s`): for a user who outgrew the NAS
and runs a cluster already. Nothing here connects to anything; `kubectl apply -k DIR` applies.

- A service with a data volume is a StatefulSet (one replica, a PVC template per volume); any
  other a Deployment (`kubernetes.replicas`). Each gets a ClusterIP Service of its port, the
  catalog's memory limit as request and limit, and probes from its health check (HTTP when it
  has a health route, else its command).
- The edge is the cluster's Ingress (ingress-nginx): the same routes, `/billing` with its prefix
  stripped (a rewrite-target Ingress of its own). cloudflared sends every hostname to the ingress
  controller's Service (`kubernetes.ingress_origin`).
- Secrets are referenced, never inlined: `create-secrets.sh` makes every missing one in the
  cluster (generated from /dev/urandom, through files, never argv); the ones only the operator
  has (provided) it names.
- NetworkPolicies mirror the Compose networks: a pod takes traffic only from the pods it shares
  a network with (and the ingress controller, when it has a route); it reaches only them, DNS,
  and the internet when the catalog gives it `egress`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

import yaml

from deploys.catalog import Catalog, Service
from deploys.catalog.model import SECRET_TOKEN
from deploys.render.ingress import tunnel_rules
from deploys.layout import KEY_MOUNTS, PUBLIC_KEYS, SECRET_KEYS
from deploys.render import image_tag

# Replaced by the cluster's Ingress: the edge's routes become Ingress rules.
EDGE = "edge"
NAME_LABEL = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"


def dns_name(name: str) -> str:
    """A catalog name as a Kubernetes object name (DNS-1123: lowercase, '-')."""
    return name.lower().replace("_", "-")


def secret_object(name: str) -> str:
    return f"secret-{dns_name(name)}"


def secret_variable(name: str) -> str:
    return "SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def quantity(size: str) -> str:
    """Compose's memory size (512m, 1g) as a Kubernetes quantity (512Mi, 1Gi)."""
    number, unit = size[:-1], size[-1].lower()
    return f"{number}{ {'k': 'Ki', 'm': 'Mi', 'g': 'Gi'}[unit] }"


class _PlainDumper(yaml.SafeDumper):
    """YAML without anchors: each object reads on its own."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


@dataclass
class Manifests:
    """Every manifest of one catalog, as file name -> YAML text."""

    catalog: Catalog

    @property
    def spec(self) -> dict[str, Any]:
        return self.catalog.kubernetes

    @property
    def namespace(self) -> str:
        return self.spec["namespace"] or self.catalog.project_name

    @property
    def workloads(self) -> list[Service]:
        return [s for s in self.catalog.services.values() if s.name != EDGE]

    def files(self) -> dict[str, str]:
        out = {"namespace.yaml": self._dump([self.namespace_object()])}
        for service in self.workloads:
            out[f"services/{service.name}.yaml"] = self._dump(self.service_objects(service))
        out["ingress.yaml"] = self._dump(self.ingresses())
        out["network-policies.yaml"] = self._dump(self.network_policies())
        out["create-secrets.sh"] = self.create_secrets_script()
        out["kustomization.yaml"] = self._dump([{
            "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
            "resources": [name for name in out if name.endswith(".yaml")]}])
        return out

    def documents(self) -> list[dict[str, Any]]:
        """Every Kubernetes object (what the schema validation reads)."""
        return [doc for name, text in self.files().items()
                if name.endswith(".yaml") and name != "kustomization.yaml" for doc in yaml.safe_load_all(text)]

    def _dump(self, objects: list[dict[str, Any]]) -> str:
        head = (f"# Rendered from the catalog of target {self.catalog.target!r} by deploys/render/kubernetes.py "
                f"(Kubernetes {self.spec['version']}): do not edit, render again.\n")
        return head + "---\n".join(yaml.dump(o, Dumper=_PlainDumper, sort_keys=False, width=120) for o in objects)

    def _meta(self, name: str, service: str | None = None, **extra) -> dict[str, Any]:
        labels = {PART_OF: self.catalog.project_name}
        if service:
            labels[NAME_LABEL] = service
        return {"name": name, "namespace": self.namespace, "labels": labels, **extra}

    def namespace_object(self) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": self.namespace, "labels": {PART_OF: self.catalog.project_name}}}

    # -- workloads -------------------------------------------------------------------------------

    @staticmethod
    def data_volumes(service: Service) -> dict[str, str]:
        """Its volumes that hold data (written): each a PVC of the StatefulSet."""
        return {src: dst for src, dst in service.volumes.items() if not dst.endswith(":ro")}

    def service_objects(self, service: Service) -> list[dict[str, Any]]:
        objects = []
        if service.name == "cloudflared":
            objects.append(self.cloudflared_config())
        objects.append(self.workload(service))
        if service.port:
            objects.append({"apiVersion": "v1", "kind": "Service", "metadata": self._meta(service.name, service.name),
                            "spec": {"selector": {NAME_LABEL: service.name},
                                     "ports": [{"name": "main", "port": service.port, "targetPort": service.port}]}})
        return objects

    def workload(self, service: Service) -> dict[str, Any]:
        data = self.data_volumes(service)
        pod = {"metadata": {"labels": {NAME_LABEL: service.name, PART_OF: self.catalog.project_name}},
               "spec": {"automountServiceAccountToken": False, "containers": [self.container(service)]}}
        volumes = self.pod_volumes(service)
        if volumes:
            pod["spec"]["volumes"] = volumes
        if service.name == "cloudflared":  # a changed config rolls the tunnel
            digest = hashlib.sha256(json.dumps(self.cloudflared_config(), sort_keys=True).encode()).hexdigest()[:16]
            pod["metadata"]["annotations"] = {"marketplace/config-hash": digest}
        spec: dict[str, Any] = {"selector": {"matchLabels": {NAME_LABEL: service.name}}, "template": pod}
        if data:
            spec.update(serviceName=service.name, replicas=1, volumeClaimTemplates=[
                {"metadata": {"name": self.volume_name(src)},
                 "spec": {"accessModes": ["ReadWriteOnce"], **({"storageClassName": self.spec["storage_class"]}
                                                               if self.spec["storage_class"] else {}),
                          "resources": {"requests": {"storage": self.spec["volume_size"]}}}}
                for src in sorted(data)])
            kind = "StatefulSet"
        else:
            spec["replicas"] = self.spec["replicas"].get(service.name, 1)
            kind = "Deployment"
        return {"apiVersion": "apps/v1", "kind": kind, "metadata": self._meta(service.name, service.name), "spec": spec}

    @staticmethod
    def volume_name(src: str) -> str:
        return dns_name(re.sub(r"[^A-Za-z0-9]+", "-", src)).strip("-")

    def container(self, service: Service) -> dict[str, Any]:
        container: dict[str, Any] = {"name": service.name, "image": self.image(service)}
        if service.command:
            container["args"] = list(service.command)  # Compose's `command` replaces the image's CMD
        env = self.env(service)
        if env:
            container["env"] = env
        if service.port:
            container["ports"] = [{"name": "main", "containerPort": service.port}]
        if service.mem_limit:
            memory = quantity(service.mem_limit)
            container["resources"] = {"requests": {"memory": memory}, "limits": {"memory": memory}}
        container.update(self.probes(service))
        mounts = [{"name": self.volume_name(src), "mountPath": dst} for src, dst in sorted(self.data_volumes(service).items())]
        mounts += [{"name": name, "mountPath": path, "readOnly": True} for name, path in self.read_only_mounts(service)]
        if mounts:
            container["volumeMounts"] = mounts
        return container

    def image(self, service: Service) -> str:
        """Its pinned image; one the target builds itself is pushed to `kubernetes.registry`."""
        if not service.build:
            return service.image
        tag = image_tag(self.catalog, service)
        return f"{self.spec['registry'].rstrip('/')}/{tag.split('/', 1)[-1]}" if self.spec["registry"] else tag

    def env(self, service: Service) -> list[dict[str, Any]]:
        """Its plain variables as values; every secret first as SECRET_NAME from its Secret, then
        the variables that hold it by Kubernetes' $(SECRET_NAME) expansion."""
        env: list[dict[str, Any]] = []
        for name in sorted({m for v in service.secret_env.values() for m in SECRET_TOKEN.findall(v)}):
            env.append({"name": secret_variable(name),
                        "valueFrom": {"secretKeyRef": {"name": secret_object(name), "key": "value"}}})
        for key, value in sorted(service.env.items()):
            env.append({"name": key, "value": str(value).replace("$(", "$$(")})
        for key, value in sorted(service.secret_env.items()):
            escaped = str(value).replace("$(", "$$(")
            env.append({"name": key, "value": SECRET_TOKEN.sub(lambda m: f"$({secret_variable(m.group(1))})", escaped)})
        return env

    def probes(self, service: Service) -> dict[str, Any]:
        """Startup and liveness from its container health check (what Compose runs); readiness
        from its health route when it has one (what the release gate asks through the edge)."""
        health = service.health
        timing = {"periodSeconds": health.interval_s, "timeoutSeconds": health.timeout_s}
        http = {"httpGet": {"path": health.http_path, "port": service.port}} if health.http_path and service.port else None
        if health.test and health.test[0] in ("CMD", "CMD-SHELL"):
            argv = ["sh", "-c", health.test[1]] if health.test[0] == "CMD-SHELL" else list(health.test[1:])
            alive: dict[str, Any] | None = {"exec": {"command": argv}}
        else:
            alive = http
        if alive is None:
            return {}
        starting = -(-health.start_period_s // health.interval_s) + health.retries
        return {"startupProbe": {**copy.deepcopy(alive), **timing, "failureThreshold": max(starting, 1)},
                "readinessProbe": {**copy.deepcopy(http or alive), **timing, "failureThreshold": health.retries},
                "livenessProbe": {**copy.deepcopy(alive), **timing, "failureThreshold": health.retries}}

    def read_only_mounts(self, service: Service) -> list[tuple[str, str]]:
        """(volume, path) of its read-only mounts: key files, cloudflared's config and credentials,
        and the folders only the NAS's DSM tasks fill (empty here)."""
        return [(self.volume_name(src), dst[:-3]) for src, dst in sorted(service.volumes.items()) if dst.endswith(":ro")]

    def pod_volumes(self, service: Service) -> list[dict[str, Any]]:
        volumes = []
        for src, dst in sorted(service.volumes.items()):
            if not dst.endswith(":ro"):
                continue
            name = self.volume_name(src)
            if src in (SECRET_KEYS, PUBLIC_KEYS):
                part = "private" if src == SECRET_KEYS else "public"
                volumes.append({"name": name, "projected": {"sources": [
                    {"secret": {"name": secret_object(key),
                                "items": [{"key": part, "path": KEY_MOUNTS[part][2].format(name=key)}]}}
                    for key in sorted(service.keys)]}})
            elif src == "cloudflared":
                sources: list[dict[str, Any]] = [{"configMap": {"name": "cloudflared-config"}}]
                if self.catalog.tunnel["mode"] == "local":
                    credentials = self.catalog.tunnel["credentials_file"].split("/")[-1]
                    sources.append({"secret": {"name": "tunnel-credentials",
                                               "items": [{"key": "credentials.json", "path": credentials}]}})
                volumes.append({"name": name, "projected": {"sources": sources}})
            else:
                volumes.append({"name": name, "emptyDir": {}})
        return volumes

    def cloudflared_config(self) -> dict[str, Any]:
        """cloudflared's config.yml with every rule sent to the ingress controller."""
        rules = []
        for rule in tunnel_rules(self.catalog):
            config = dict(rule.as_config())
            if str(config.get("service", "")).startswith(("http://", "https://")):
                config["service"] = self.spec["ingress_origin"]
            rules.append(config)
        tunnel = self.catalog.tunnel
        text = yaml.safe_dump({"tunnel": tunnel["id"],
                               "credentials-file": "/etc/cloudflared/" + tunnel["credentials_file"].split("/")[-1],
                               "no-autoupdate": True, "ingress": rules}, sort_keys=False)
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": self._meta("cloudflared-config", "cloudflared"),
                "data": {"config.yml": text}}

    # -- ingress ---------------------------------------------------------------------------------

    def ingresses(self) -> list[dict[str, Any]]:
        """One Ingress of plain prefixes, one of the stripped ones (rewrite-target). ingress-nginx
        reads every path of a host as a regex once one is: such hosts get anchored regexes."""
        routes = [r for s in self.workloads for r in s.routes]
        regex_hosts = {r.hostname for r in routes if r.strip_prefix}
        kept, stripped = {}, {}
        for route in sorted(routes, key=lambda r: (r.hostname, -len(r.prefix))):
            regex = route.hostname in regex_hosts
            if route.strip_prefix:
                path, kind = f"{route.prefix}(/|$)(.*)", "ImplementationSpecific"
            elif regex:
                path, kind = (f"{route.prefix}(/|$)" if route.prefix else "/"), "ImplementationSpecific"
            else:
                path, kind = (route.prefix or "/"), "Prefix"
            entry = {"path": path, "pathType": kind,
                     "backend": {"service": {"name": route.service, "port": {"number": route.port}}}}
            (stripped if route.strip_prefix else kept).setdefault(route.hostname, []).append(entry)
        objects = []
        for name, hosts, annotations in (
                ("routes", kept, {"nginx.ingress.kubernetes.io/use-regex": "true"} if regex_hosts & set(kept) else {}),
                ("routes-stripped", stripped, {"nginx.ingress.kubernetes.io/use-regex": "true",
                                               "nginx.ingress.kubernetes.io/rewrite-target": "/$2"})):
            if not hosts:
                continue
            max_body = max((r.max_body_size for r in routes), default="32m")
            annotations = {**annotations, "nginx.ingress.kubernetes.io/proxy-body-size": max_body}
            objects.append({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                            "metadata": self._meta(name, annotations=annotations),
                            "spec": {"ingressClassName": self.spec["ingress_class"],
                                     "rules": [{"host": host, "http": {"paths": paths}}
                                               for host, paths in sorted(hosts.items())]}})
        return objects

    # -- network policies ------------------------------------------------------------------------

    def network_policies(self) -> list[dict[str, Any]]:
        names = {s.name for s in self.workloads}
        routed = {r.service for s in self.workloads for r in s.routes}
        controller = {"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": self.spec["ingress_namespace"]}}}
        objects = []
        for service in self.workloads:
            peers = sorted({m for net in self.catalog.networks.values() if service.name in net.members
                            and net.name != "public" for m in net.members} & names - {service.name})
            from_peers = [{"podSelector": {"matchLabels": {NAME_LABEL: p}}} for p in peers]
            ingress = [{"from": from_peers}] if from_peers else []
            if service.name in routed:
                ingress.append({"from": [controller], "ports": [{"port": service.port}]})
            dns = {"to": [{"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}],
                   "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]}
            egress = [dns] + ([{"to": from_peers}] if from_peers else [])
            if service.egress:
                egress.append({"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}, controller]})
            objects.append({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                            "metadata": self._meta(f"{service.name}-network", service.name),
                            "spec": {"podSelector": {"matchLabels": {NAME_LABEL: service.name}},
                                     "policyTypes": ["Ingress", "Egress"], "ingress": ingress, "egress": egress}})
        return objects

    # -- secrets ---------------------------------------------------------------------------------

    def secret_names(self) -> list[str]:
        """The secrets the manifests reference."""
        found = {m for s in self.workloads for v in s.secret_env.values() for m in SECRET_TOKEN.findall(v)}
        found |= {k for s in self.workloads for k in s.keys}
        return sorted(found)

    def create_secrets_script(self) -> str:
        q = shlex.quote
        lines = ["#!/bin/sh",
                 f"# Rendered from the catalog of target {self.catalog.target!r}: makes the namespace and every",
                 "# Secret the manifests reference that the cluster lacks (never replaces one). Generated values",
                 "# come from /dev/urandom and reach kubectl through files in a private folder, never its command",
                 "# line. Run it before `kubectl apply -k` (kubectl's current context):  sh create-secrets.sh",
                 "set -eu", "umask 077", f"NS={q(self.namespace)}",
                 'work=$(mktemp -d); trap \'rm -rf "$work"\' EXIT',
                 'have() { kubectl -n "$NS" get secret "$1" >/dev/null 2>&1; }',
                 'made() { echo "created $1"; }',
                 "password() {  # NAME LENGTH",
                 "  have \"$1\" && return 0",
                 "  LC_ALL=C tr -dc 'A-Za-z0-9' < /dev/urandom | head -c \"$2\" > \"$work/value\"",
                 '  kubectl -n "$NS" create secret generic "$1" --from-file=value="$work/value" >/dev/null && made "$1"',
                 "}",
                 "keypair() {  # NAME BITS",
                 "  have \"$1\" && return 0",
                 '  openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:$2" -out "$work/private" 2>/dev/null',
                 '  openssl pkey -in "$work/private" -pubout -out "$work/public"',
                 '  kubectl -n "$NS" create secret generic "$1" --from-file=private="$work/private" \\',
                 '    --from-file=public="$work/public" >/dev/null && made "$1"',
                 "}",
                 'missing=""',
                 'kubectl get namespace "$NS" >/dev/null 2>&1 || kubectl create namespace "$NS" >/dev/null']
        for name in self.secret_names():
            spec, obj = self.catalog.secrets[name], secret_object(name)
            if spec["kind"] == "password":
                lines.append(f"password {q(obj)} {int(spec['length'])}")
            elif spec["kind"] == "rsa_keypair":
                lines.append(f"keypair {q(obj)} {int(spec['bits'])}")
            else:
                lines.append(f'have {q(obj)} || missing="$missing {obj}"')
        if self.catalog.tunnel["mode"] == "local" and "cloudflared" in self.catalog.services:
            lines.append('have tunnel-credentials || missing="$missing tunnel-credentials"')
        lines += ['if [ -n "$missing" ]; then',
                  '  echo "provide these yourself:$missing" >&2',
                  '  echo "  kubectl -n $NS create secret generic NAME --from-file=value=FILE" >&2',
                  '  echo "  (tunnel-credentials: --from-file=credentials.json=<the tunnel\'s credentials file>)" >&2',
                  "  exit 1", "fi", 'echo "every secret is there"', ""]
        return "\n".join(lines)


def render(catalog: Catalog) -> dict[str, str]:
    return Manifests(catalog).files()
