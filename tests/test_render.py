"""Rendered files, parsed back: what Compose 2.20.1, nginx and cloudflared will see."""

from __future__ import annotations

import json

import shutil
import stat
import subprocess
from pathlib import Path

import pytest
import yaml

from deploys.render import image_tag, render

DOCKER = shutil.which("docker")


@pytest.fixture(scope="module")
def compose(local_files):
    return yaml.safe_load(local_files["docker-compose.yml"].content)


def write_tree(files, root: Path, secret_files=()) -> Path:
    for path, mf in files.items():
        dest = root / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(mf.content)
    for name in secret_files:
        (root / "secrets").mkdir(exist_ok=True)
        (root / "secrets" / f"{name}.env").write_text("PLACEHOLDER=1\n")
    return root


def test_every_enabled_service_is_in_the_compose_file(local_catalog, compose):
    assert list(compose["services"]) == list(local_catalog.services)


def test_services_restart_and_have_healthchecks(compose):
    for name, svc in compose["services"].items():
        assert svc["restart"] == "unless-stopped", name
        assert svc["healthcheck"]["test"], name
        assert "start_interval" not in svc["healthcheck"], name


def test_dependencies_wait_for_health(local_catalog, compose):
    for name, svc in compose["services"].items():
        assert svc.get("depends_on", {}) == {
            dep: {"condition": "service_healthy"} for dep in local_catalog.services[name].depends_on}


def test_ports_publish_on_loopback_only(compose):
    for name, svc in compose["services"].items():
        for port in svc.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
            assert port.rsplit(":", 1)[1] not in ("8000", "12345", "5432", "6379"), (name, port)


def test_each_database_server_shares_an_internal_network_with_its_users_only(compose):
    for name in ("postgres", "redis", "cocorico-mysql", "cocorico-mongo"):
        assert compose["services"][name]["networks"] == [f"db-{name}"]
    members = {net: sorted(n for n, s in compose["services"].items() if net in s["networks"])
               for net in compose["networks"]}
    assert members["db-postgres"] == ["condo", "connector", "kaui", "killbill", "postgres"]
    assert members["db-redis"] == ["condo", "connector", "redis"]
    assert members["db-cocorico-mysql"] == ["cocorico", "cocorico-mysql"]
    assert members["tunnel"] == ["cloudflared", "edge"]
    assert compose["services"]["cloudflared"]["networks"] == ["tunnel", "public"]
    assert {n: v["internal"] for n, v in compose["networks"].items() if not v["internal"]} == {"public": False}


def test_volumes_live_under_the_deploy_root(compose):
    for svc in compose["services"].values():
        for volume in svc.get("volumes", []):
            assert volume.startswith("./"), volume


def test_env_files_use_the_list_form_2_20_understands(compose):
    for svc in compose["services"].values():
        for entry in svc.get("env_file", []):
            assert isinstance(entry, str) and entry.startswith("./secrets/")


def test_compose_dollars_are_escaped(compose):
    command = " ".join(compose["services"]["redis"]["command"])
    assert '"$$REDIS_ADMIN_PASSWORD"' in command and "redis-server --aclfile" in command


def test_no_secret_value_or_token_in_clear_files(local_files):
    """The env templates live in the description's secrets section only (the program's
    `secrets` fills them in on the target)."""
    for path, mf in local_files.items():
        if path != "ops/stack.json" and not path.startswith("build/"):  # build/: sources, the program's too
            assert b"{secret:" not in mf.content, path
    description = json.loads(local_files["ops/stack.json"].content)
    section = description.pop("secrets")
    assert "{secret:" not in json.dumps(description)
    assert any("{secret:" in template for lines in section["env_files"].values() for _, template in lines)


def test_secret_env_and_scripts_have_private_or_exec_modes(local_files):
    assert local_files["scripts/secrets.sh"].mode == 0o700
    assert local_files["scripts/start_all.sh"].mode & stat.S_IXUSR


def test_image_tags_follow_the_build_context_content(local_catalog, tmp_path):
    import dataclasses

    def tag_of(files: dict[str, str]) -> str:
        context = tmp_path / str(len(list(tmp_path.iterdir())))
        for name, text in files.items():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            (context / name).write_text(text)
        svc = dataclasses.replace(local_catalog.services["connector"], build=str(context))
        return image_tag(local_catalog, svc)

    same = tag_of({"Dockerfile": "FROM base\n", "app.py": "print(1)\n"})
    assert same.startswith("marketplace/connector:")
    assert tag_of({"Dockerfile": "FROM base\n", "app.py": "print(1)\n"}) == same
    assert tag_of({"Dockerfile": "FROM base\n", "app.py": "print(2)\n"}) != same
    assert tag_of({"Dockerfile": "FROM base\n", "lib/app.py": "print(1)\n"}) != same


def _edited(files, path):
    files = dict(files)
    conf = files[path]
    files[path] = type(conf)(conf.path, conf.content + b"\n# x\n", conf.mode)
    return files


def test_a_mounted_config_change_touches_only_its_service(local_catalog, local_files):
    from deploys.render import expected_containers

    before = expected_containers(local_catalog, local_files)
    after = expected_containers(local_catalog, _edited(local_files, "cloudflared/config.yml"))
    assert {n for n in before if before[n] != after[n]} == {"cloudflared"}


def test_the_edges_config_is_reloaded_not_part_of_its_containers_hash(local_catalog, local_files):
    """On Compose the edge loads a changed config folder by a graceful reload: its container's
    hash stays, the hash the release records as loaded changes (and is in the description)."""
    import json

    from deploys.render import edge_config_sha, expected_containers

    edited = _edited(local_files, "edge/conf.d/marketplace.conf")
    assert expected_containers(local_catalog, edited) == expected_containers(local_catalog, local_files)
    assert edge_config_sha(local_catalog, edited) != edge_config_sha(local_catalog, local_files)
    switch = json.loads(local_files["ops/stack.json"].content)["release"]["switch"]
    assert switch["edge"]["config_sha"] == edge_config_sha(local_catalog, local_files)
    assert switch["edge"]["loaded"] == "edge/loaded-config"


def test_cloudflared_ingress_sends_every_hostname_to_the_edge_and_ends_with_404(local_catalog, local_files):
    config = yaml.safe_load(local_files["cloudflared/config.yml"].content)
    assert config["tunnel"] == local_catalog.tunnel["id"]
    rules = config["ingress"]
    assert rules[-1] == {"service": "http_status:404"}
    assert {r["hostname"] for r in rules[:-1]} == set(local_catalog.hostnames.values())
    assert all(r["service"] == "http://edge:8080" for r in rules[:-1])


def test_edge_strips_the_billing_prefix_and_keeps_api(local_files):
    conf = local_files["edge/conf.d/marketplace.conf"].content.decode()
    assert "rewrite ^/billing/(.*)$ /$1 break;" in conf
    assert "location ^~ /api/ {" in conf and "rewrite ^/api/" not in conf


def test_dsm_tasks_run_the_rendered_scripts(local_catalog, local_files):
    import json

    tasks = {t.get("name") or t.get("task_name"): t for t in json.loads(local_files["dsm/tasks.json"].content)["tasks"]}
    boot = tasks["marketplace: start-on-boot"]
    assert boot["event"] == "bootup" and boot["owner"] == {"0": "root"}
    assert boot["operation"] == (f"bash {local_catalog.deploy_root}/scripts/start_all.sh >> "
                                 f"{local_catalog.deploy_root}/logs/tasks/start-on-boot.log 2>&1")
    health = tasks["marketplace: healthcheck"]
    assert health["schedule"]["repeat_min"] == 5 and health["extra"]["script"].startswith("bash ")
    assert tasks["marketplace: sync-killbill"]["extra"]["script"].startswith(
        f"bash {local_catalog.deploy_root}/scripts/sync.sh killbill >> ")


def test_rendering_is_deterministic(local_catalog):
    assert {p: f.sha256 for p, f in render(local_catalog).items()} == \
           {p: f.sha256 for p, f in render(local_catalog).items()}


@pytest.mark.docker
def test_compose_2_20_accepts_the_file(local_catalog, local_files, tmp_path):
    version = subprocess.run([DOCKER, "compose", "version", "--short"], capture_output=True, text=True)
    assert version.returncode == 0, "no compose plugin: make setup"
    root = write_tree(local_files, tmp_path, local_catalog.secret_files)
    result = subprocess.run([DOCKER, "compose", "config", "-q"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert version.stdout.strip().lstrip("v") == "2.20.1"


@pytest.mark.docker
def test_nginx_accepts_the_edge_config(local_files, tmp_path):
    probe = subprocess.run([DOCKER, "image", "inspect", "marketplace-local/base:bookworm"],
                           capture_output=True)
    assert probe.returncode == 0, "local base image not built: make setup"
    root = write_tree({p: f for p, f in local_files.items() if p.startswith("edge/")}, tmp_path)
    result = subprocess.run(
        [DOCKER, "run", "--rm", "--network", "none", "-v", f"{root}/edge/conf.d:/etc/nginx/conf.d:ro",
         "marketplace-local/base:bookworm", "nginx", "-t"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr



# -- the status page (`monitoring`) ------------------------------------------------------------

LOCAL = (Path(__file__).resolve().parent.parent / "group_data" / "local.py").read_text() + "\n"

def _server_of(conf: str, hostname: str) -> str:
    """The text of the edge's server block for one hostname."""
    start = conf.index(f"server_name {hostname};")
    end = conf.find("\nserver {", start)
    return conf[start:end if end > 0 else None]


def test_the_status_page_is_on_the_marketplace_hostname_only_behind_basic_auth(local_catalog, local_files, compose):
    conf = local_files["edge/conf.d/marketplace.conf"].content.decode()
    main = _server_of(conf, local_catalog.hostnames["main"])
    block = main[main.index("location ^~ /monitoring/ {"):]
    assert "auth_basic_user_file /etc/nginx/htpasswd/monitoring;" in block and "root /srv/status;" in block
    assert 'add_header Cache-Control "no-store, private" always;' in block
    assert 'add_header X-Robots-Tag "noindex, nofollow" always;' in block
    assert "proxy_pass" not in block.split("\n    }\n")[0]  # files only: a request reaches no container
    for other in ("kaui", "condo"):
        assert "/monitoring" not in _server_of(conf, local_catalog.hostnames[other])
    assert "./monitoring:/srv/status/monitoring:ro" in compose["services"]["edge"]["volumes"]
    assert "./secrets/htpasswd:/etc/nginx/htpasswd:ro" in compose["services"]["edge"]["volumes"]
    assert "monitoring_password" in local_catalog.used_secrets


def test_the_status_pages_auth_file_is_made_from_its_password_secret(local_files):
    # The NAS-side program is told which secret and where it is (for `make status` to say), never it;
    # tests/test_nasops_secrets.py proves the hash and that the password goes through stdin
    description = json.loads(local_files["ops/stack.json"].content)
    assert description["secrets"]["auth"] == {"file": "secrets/htpasswd/monitoring", "user": "ops",
                                              "secret": "monitoring_password"}
    assert description["monitoring"]["password_file"].endswith("/secrets/values/monitoring_password")
    assert "monitoring_password" not in json.dumps({k: v for k, v in description.items()
                                                    if k not in ("monitoring", "secrets")})


def test_no_status_page_no_location_no_mount_no_secret(group_data):
    from deploys.catalog import load

    catalog = load("local", group_data("local", LOCAL + 'monitoring = {"enabled": False}\n'))
    files = render(catalog)
    assert "/monitoring" not in files["edge/conf.d/marketplace.conf"].content.decode()
    edge = yaml.safe_load(files["docker-compose.yml"].content)["services"]["edge"]
    assert not any("htpasswd" in v or "/srv/status" in v for v in edge["volumes"])
    assert "monitoring_password" not in catalog.used_secrets


def test_a_hostname_without_a_root_route_gets_a_tunnel_rule_for_the_page(group_data):
    from deploys.catalog import load
    from deploys.render.ingress import first_match, tunnel_rules

    catalog = load("local", group_data("local", LOCAL + 'routes = {"marketplace": None}\n'))
    rules = tunnel_rules(catalog)
    host = catalog.hostnames["main"]
    assert first_match(rules, host, "/monitoring/")[1].path == r"^/monitoring(/|$)"
    assert first_match(rules, host, "/monitoringx") is None or first_match(rules, host, "/monitoringx")[1].hostname != host
    full = tunnel_rules(load("local", group_data("local", LOCAL)))
    assert not any(r.path and "monitoring" in r.path for r in full)  # "/" already takes it there


def test_the_tenant_is_described_with_its_secrets_as_files_only(local_catalog, local_files, group_data):
    import json

    from deploys.catalog import load

    spec = json.loads(local_files["ops/stack.json"].content)["tenant"]
    assert spec["kaui"]["host"] == local_catalog.hostnames["kaui"]
    assert spec["admin_password_file"] == "secrets/values/killbill_admin_password"
    assert spec["api_secret_file"] == "secrets/values/killbill_api_secret"
    assert local_files["scripts/tenant.sh"].content.decode().rstrip().endswith("exec bash scripts/ops.sh tenant")
    skipped = render(load("local", group_data("local", LOCAL + 'killbill_tenant = {"kaui_service": None}\n')))
    assert json.loads(skipped["ops/stack.json"].content)["tenant"]["kaui"] is None
