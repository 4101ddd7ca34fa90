"""The Kubernetes manifests (`make render TARGET=k8s`): valid against the API schemas of the named
version (kubernetes-validate, offline: no cluster here), and the same stack as the Compose file:
the same services, routes, networks, limits and health checks, with secrets only referenced."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from deploys.catalog import load
from deploys.render.ingress import first_match, tunnel_rules
from deploys.render.kubernetes import Manifests, secret_object, secret_variable

REPO = Path(__file__).resolve().parent.parent
# What production asks of the operator, filled in (as the operator's own k8s.py would).
K8S = (REPO / "group_data" / "k8s.py").read_text() + '''
services = {"condo": {"image": "registry.example.com/condo:2026.11.1"},
            "cocorico": {"image": "registry.example.com/cocorico:2026.11.1"}}
tunnel = {"id": "6f1c1e2a-4c4b-4a57-9d2e-3b8e0c5e9a11"}
databases = {"killbill": {"ddl": ["files/ddl/standin/killbill.sql"]},
             "kaui": {"ddl": ["files/ddl/standin/kaui.sql", "files/ddl/kaui-admin.sql"]}}
kubernetes = {"registry": "registry.example.com/marketplace", "replicas": {"connector": 2}}
'''


@pytest.fixture
def k8s(group_data):
    return load("k8s", group_data("k8s", K8S))


@pytest.fixture
def manifests(k8s):
    return Manifests(k8s)


def objects(manifests, kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in manifests.documents() if d["kind"] == kind}


def test_every_manifest_is_valid_for_the_named_kubernetes_version(manifests, k8s):
    documents = manifests.documents()
    assert {d["kind"] for d in documents} == {"Namespace", "StatefulSet", "Deployment", "Service", "ConfigMap",
                                             "Ingress", "NetworkPolicy"}
    for doc in documents:
        kubernetes_validate.validate(doc, k8s.kubernetes["version"], strict=True)


def test_the_schema_check_refuses_what_the_api_would(manifests, k8s):
    deployment = next(iter(objects(manifests, "Deployment").values()))
    deployment["spec"]["template"]["spec"]["containers"][0]["mem_limit"] = "1g"  # Compose's key, not the API's
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, k8s.kubernetes["version"], strict=True)


def test_databases_are_statefulsets_with_a_claim_per_volume_and_apps_deployments(manifests, k8s):
    stateful, stateless = objects(manifests, "StatefulSet"), objects(manifests, "Deployment")
    assert set(stateful) == {"postgres", "redis", "cocorico-mysql", "cocorico-mongo"}
    assert set(stateless) == {"connector", "killbill", "kaui", "condo", "cocorico", "cloudflared"}  # the edge is the Ingress
    postgres = stateful["postgres"]["spec"]
    assert postgres["replicas"] == 1 and postgres["serviceName"] == "postgres"
    (claim,) = postgres["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi"
    (mount,) = postgres["template"]["spec"]["containers"][0]["volumeMounts"]
    assert (mount["name"], mount["mountPath"]) == (claim["metadata"]["name"], "/var/lib/postgresql/data")
    assert stateless["connector"]["spec"]["replicas"] == 2 and stateless["kaui"]["spec"]["replicas"] == 1
    services = objects(manifests, "Service")
    assert {name: s["spec"]["ports"][0]["port"] for name, s in services.items()} == {
        n: s.port for n, s in k8s.services.items() if s.port and n != "edge"}


def test_images_limits_probes_and_commands_come_from_the_catalog(manifests, k8s):
    workloads = {**objects(manifests, "StatefulSet"), **objects(manifests, "Deployment")}
    for name, workload in workloads.items():
        service = k8s.services[name]
        container = workload["spec"]["template"]["spec"]["containers"][0]
        number, unit = service.mem_limit[:-1], service.mem_limit[-1]
        assert container["resources"]["limits"]["memory"] == f"{number}{unit.upper()}i"
        assert container["resources"]["requests"] == container["resources"]["limits"]
        assert container.get("args") == (list(service.command) if service.command else None)
        assert {"startupProbe", "livenessProbe", "readinessProbe"} <= set(container), name
    containers = {n: w["spec"]["template"]["spec"]["containers"][0] for n, w in workloads.items()}
    assert containers["condo"]["image"] == "registry.example.com/condo:2026.11.1"
    assert re.fullmatch(r"registry\.example\.com/marketplace/connector:[0-9a-f]{12}", containers["connector"]["image"])
    killbill = containers["killbill"]  # readiness: the health route, on the container (no /billing prefix)
    assert killbill["readinessProbe"]["httpGet"] == {"path": "/1.0/healthcheck", "port": 8080}
    assert killbill["livenessProbe"]["exec"]["command"] == list(k8s.services["killbill"].health.test[1:])
    assert containers["postgres"]["livenessProbe"]["exec"]["command"] == ["sh", "-c", "pg_isready -q -U postgres"]


def test_secrets_are_referenced_never_inlined(manifests, k8s):
    text = "".join(manifests.files().values())
    assert "kind: Secret" not in text
    connector = objects(manifests, "Deployment")["connector"]["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e for e in connector["env"]}
    assert env[secret_variable("db_marketplace_password")]["valueFrom"]["secretKeyRef"] == {
        "name": secret_object("db_marketplace_password"), "key": "value"}
    assert env["DATABASE_URL"]["value"] == \
        f"postgresql://connector:$({secret_variable('db_marketplace_password')})@postgres:5432/marketplace"
    names = [e["name"] for e in connector["env"]]
    assert names.index(secret_variable("db_marketplace_password")) < names.index("DATABASE_URL")  # $() sees only earlier ones
    referenced = {ref["name"] for d in manifests.documents() for ref in _secret_refs(d)}
    script = manifests.files()["create-secrets.sh"]
    assert referenced == {secret_object(n) for n in manifests.secret_names()} | {"tunnel-credentials"}
    for name in referenced:
        assert name in script


def _secret_refs(node):
    if isinstance(node, dict):
        if "secretKeyRef" in node:
            yield node["secretKeyRef"]
        if set(node) == {"secret"} and "name" in node["secret"]:
            yield node["secret"]
        for value in node.values():
            yield from _secret_refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _secret_refs(value)


def test_the_ingress_sends_each_route_where_the_edge_does_and_strips_billing(manifests, k8s):
    ingresses = objects(manifests, "Ingress")
    assert {i["spec"]["ingressClassName"] for i in ingresses.values()} == {"nginx"}
    stripped = ingresses["routes-stripped"]
    assert stripped["metadata"]["annotations"]["nginx.ingress.kubernetes.io/rewrite-target"] == "/$2"

    def backend(host: str, path: str) -> tuple[str, str] | None:
        """ingress-nginx's choice for a request: the longest matching path of that host."""
        found = []
        for ingress in ingresses.values():
            for rule in ingress["spec"]["rules"]:
                if rule["host"] != host:
                    continue
                for p in rule["http"]["paths"]:
                    if p["pathType"] == "Prefix":
                        ok = path == p["path"] or path.startswith(p["path"].rstrip("/") + "/")
                        m = None
                    else:
                        m = re.match(p["path"], path)
                        ok = m is not None
                    if ok:
                        sent = "/" + m.group(2) if m and m.lastindex and m.lastindex >= 2 else path
                        found.append((len(p["path"]), p["backend"]["service"]["name"], sent))
        return max(found)[1:] if found else None

    main = k8s.hostnames["main"]
    assert backend(main, "/billing/1.0/healthcheck") == ("killbill", "/1.0/healthcheck")
    assert backend(main, "/api/health") == ("connector", "/api/health")
    assert backend(main, "/apiary") == ("cocorico", "/apiary")  # /api is a path segment, not a string prefix
    assert backend(main, "/en/") == ("cocorico", "/en/")
    assert backend(k8s.hostnames["kaui"], "/users/sign_in") == ("kaui", "/users/sign_in")
    for route in k8s.routes:  # every route of the catalog, to its service
        assert backend(route.hostname, route.prefix + "/x")[0] == route.service


def test_cloudflared_sends_every_hostname_to_the_ingress_controller(manifests, k8s):
    config = yaml.safe_load(objects(manifests, "ConfigMap")["cloudflared-config"]["data"]["config.yml"])
    origin = k8s.kubernetes["ingress_origin"]
    rules = config["ingress"]
    assert rules[-1] == {"service": "http_status:404"}
    assert {r["service"] for r in rules[:-1]} == {origin}
    assert len(rules) == len(tunnel_rules(k8s))
    assert first_match(tunnel_rules(k8s), k8s.hostnames["kaui"], "/") is not None


def test_network_policies_mirror_the_compose_networks(manifests, k8s):
    policies = objects(manifests, "NetworkPolicy")

    def allowed_from(service: str) -> set[str]:
        spec = policies[f"{service}-network"]["spec"]
        return {peer["podSelector"]["matchLabels"]["app.kubernetes.io/name"]
                for rule in spec["ingress"] for peer in rule["from"] if "podSelector" in peer}

    assert allowed_from("postgres") == {"condo", "connector", "kaui", "killbill"}
    assert allowed_from("cocorico-mysql") == {"cocorico"}
    assert "cocorico" not in allowed_from("postgres") and "killbill" not in allowed_from("redis")
    controller = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}}
    routed = {r.service for r in k8s.routes}
    for name, policy in policies.items():
        froms = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"]]
        assert (controller in froms) == (name.removesuffix("-network") in routed), name
        egress = [peer for rule in policy["spec"]["egress"] for peer in rule.get("to", [])]
        internet = {"ipBlock": {"cidr": "0.0.0.0/0"}} in egress
        assert internet == k8s.services[name.removesuffix("-network")].egress, name


def test_create_secrets_makes_the_missing_ones_through_files_and_keeps_the_others(manifests, tmp_path):
    bin_dir, store = tmp_path / "bin", tmp_path / "cluster"
    bin_dir.mkdir()
    store.mkdir()
    # A stand-in kubectl: secrets as files under $STORE, every command line kept in $STORE/argv.
    (bin_dir / "kubectl").write_text('''#!/bin/sh
printf '%s\\n' "$*" >> "$STORE/argv"
[ "$1" = -n ] && shift 2
case "$1 $2" in
  "get namespace") exit 0 ;;
  "get secret") [ -e "$STORE/$3" ] ;;
  "create secret")
    name=$4; shift 4; mkdir "$STORE/$name"
    for arg in "$@"; do key=${arg#--from-file=}; key=${key%%=*}; cp "${arg#*=*=}" "$STORE/$name/$key"; done ;;
  *) exit 2 ;;
esac
''')
    (bin_dir / "kubectl").chmod(0o755)
    script = tmp_path / "create-secrets.sh"
    script.write_text(manifests.files()["create-secrets.sh"])
    (store / "secret-killbill-admin-password").mkdir()  # already in the cluster: kept as it is
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STORE": str(store)}
    run = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert run.returncode == 1 and "provide these yourself: tunnel-credentials" in run.stderr
    created = {line.split()[-1] for line in run.stdout.splitlines()}
    assert "secret-killbill-admin-password" not in created and "secret-db-kaui-password" in created
    value = (store / "secret-db-kaui-password" / "value").read_text()
    assert re.fullmatch(r"[A-Za-z0-9]{40}", value)
    assert (store / "secret-jwt-signing" / "private").read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert value not in (store / "argv").read_text()  # through a file, never kubectl's command line
    (store / "tunnel-credentials").mkdir()
    again = subprocess.run(["sh", str(script)], capture_output=True, text=True, env=env)
    assert again.returncode == 0 and again.stdout.strip() == "every secret is there"
    assert (store / "secret-db-kaui-password" / "value").read_text() == value


def test_the_script_passes_shellcheck(manifests, tmp_path):
    shellcheck = shutil.which("shellcheck")
    assert shellcheck, "make tools installs shellcheck"
    script = tmp_path / "create-secrets.sh"
    script.write_text(manifests.files()["create-secrets.sh"])
    run = subprocess.run([shellcheck, "-s", "sh", str(script)], capture_output=True, text=True)
    assert run.returncode == 0, run.stdout


def test_make_render_writes_the_manifests_and_a_deploy_refuses_the_target(tmp_path):
    """Run as the README says, in a copy of this checkout whose k8s.py the operator filled in."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=shutil.ignore_patterns(".git", ".venv", ".state", "out", "__pycache__"))
    (copy / "group_data" / "k8s.py").write_text(K8S)
    (copy / ".venv").symlink_to(REPO / ".venv")
    out = copy / "out" / "k8s"
    run = subprocess.run(["make", "render", "TARGET=k8s"], cwd=copy, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"sh {out.relative_to(copy)}/create-secrets.sh && kubectl apply -k" in run.stdout
    kustomization = yaml.safe_load((out / "kustomization.yaml").read_text())
    assert all((out / name).is_file() for name in kustomization["resources"])
    assert os.access(out / "create-secrets.sh", os.X_OK)
    deploy = subprocess.run([str(REPO / ".venv" / "bin" / "python"), "inventory.py"], cwd=copy, capture_output=True,
                            text=True, env={**os.environ, "MARKETPLACE_TARGET": "k8s"})
    assert deploy.returncode == 1
    assert "target k8s runs on kubernetes: it is rendered, not deployed over SSH" in deploy.stderr
