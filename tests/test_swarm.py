"""The Swarm stack file (engine "swarm"): what `docker stack deploy` reads is the catalog as Swarm
can run it (deploys/render/swarm.py says why each rule holds), with no secret value in it."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploys import layout
from deploys.catalog import load
from deploys.render import render
from deploys.render.swarm import WITH_ENV, hash_variable

SWARM_READS_NOT = {"mem_limit", "depends_on", "build", "container_name", "restart"}


@pytest.fixture(scope="module")
def swarm():
    return load("swarm")


@pytest.fixture(scope="module")
def files(swarm):
    return render(swarm)


@pytest.fixture(scope="module")
def stack(files):
    return yaml.safe_load(files[layout.COMPOSE_FILE].content)


def test_every_enabled_service_is_a_swarm_service_and_nothing_swarm_ignores_is_left(swarm, stack):
    assert set(stack["services"]) == {*swarm.services, layout.SCHEDULER}
    for name, spec in stack["services"].items():
        assert not SWARM_READS_NOT & set(spec), name
        assert spec["labels"][layout.SWARM_SERVICE_LABEL] == name
        assert spec["deploy"]["endpoint_mode"] == "dnsrr", name  # no IPVS on Debian's kernel nor DSM's
    assert all(net["driver"] == "overlay" for net in stack["networks"].values())


def test_the_scheduler_runs_the_nas_side_program_once_on_the_data_node_as_ops_sh_runs_it(swarm, stack):
    from deploys.render import ops_image

    spec = stack["services"][layout.SCHEDULER]
    assert spec["image"] == ops_image(swarm)[0] and spec["command"] == ["schedule"]
    assert spec["working_dir"] == swarm.deploy_root
    # on the edge's networks: it asks the routes through the edge, and serves it the status page
    assert spec["networks"] == swarm.networks_of("edge")
    assert spec["environment"]["NASOPS_EDGE_URL"] == "http://edge:80"
    assert spec["deploy"]["replicas"] == 1
    assert spec["deploy"]["placement"] == {"constraints": ["node.labels.marketplace.data == true"]}
    assert spec["deploy"]["update_config"]["order"] == "stop-first"  # never two schedulers
    binds = {m["source"]: (m["target"], m["read_only"]) for m in spec["volumes"]}
    assert binds == {"/var/run/docker.sock": ("/var/run/docker.sock", False),
                     swarm.deploy_root: (swarm.deploy_root, False), swarm.backup_dir: (swarm.backup_dir, False),
                     "/etc/localtime": ("/etc/localtime", True)}
    assert int(spec["stop_grace_period"].rstrip("s")) > int(spec["environment"]["NASOPS_STOP_GRACE_S"])


def test_the_schedule_is_dsm_tasks_as_the_programs_own_commands(swarm, files):
    import json

    schedule = {job["key"]: job for job in json.loads(files[layout.STACK_DESCRIPTION].content)["schedule"]}
    assert "start-on-boot" not in schedule  # swarm.py drops it: Swarm restarts the services
    assert schedule["backup"] == {"key": "backup", "argv": ["backup", "run", "--kind", "daily"], "at": "03:00",
                                  "every_min": None, "every_hours": None, "enabled": True,
                                  "log": "logs/tasks/backup.log"}
    assert schedule["healthcheck"]["argv"] == ["monitor"] and schedule["healthcheck"]["every_min"] == 5
    assert schedule["sync-cocorico-listings"]["argv"] == ["sync", "cocorico"]
    assert set(schedule) == set(swarm.dsm_tasks)


def test_memory_limits_are_deploy_resources(swarm, stack):
    for name, service in swarm.services.items():
        limits = stack["services"][name]["deploy"].get("resources", {}).get("limits", {})
        assert limits.get("memory") == service.mem_limit, name


def test_published_ports_are_the_nodes_own_and_only_the_edge_publishes(swarm, stack):
    published = {name: spec["ports"] for name, spec in stack["services"].items() if "ports" in spec}
    assert list(published) == ["edge"]
    [port] = published["edge"]
    assert port == {"target": 80, "published": 3100 + swarm.port_offset, "protocol": "tcp", "mode": "host"}


def test_a_service_with_data_runs_once_on_the_data_node_stopping_the_old_task_first(stack):
    postgres = stack["services"]["postgres"]
    assert postgres["deploy"]["replicas"] == 1
    assert postgres["deploy"]["placement"] == {"constraints": ["node.labels.marketplace.data == true"]}
    assert postgres["deploy"]["update_config"]["order"] == "stop-first"
    assert postgres["deploy"]["update_config"]["failure_action"] == "rollback"
    [mount] = postgres["volumes"]
    assert mount["type"] == "bind" and mount["source"].startswith("/var/lib/marketplace/swarm/")


def test_the_edge_spreads_one_replica_per_node_starting_the_new_task_first(stack):
    edge = stack["services"]["edge"]["deploy"]
    assert edge["replicas"] == 2 and edge["placement"] == {"max_replicas_per_node": 1}
    assert edge["update_config"]["order"] == "start-first" and edge["rollback_config"]["order"] == "start-first"


def test_rendered_files_are_configs_named_after_their_content(swarm, group_data):
    before = yaml.safe_load(render(swarm)[layout.COMPOSE_FILE].content)
    changed = load("swarm_edge", group_data("swarm_edge", 'extends = ["swarm"]\n'
                                                          'routes = {"billing": {"path": "/kb"}}\n'))
    after = yaml.safe_load(render(changed)[layout.COMPOSE_FILE].content)
    key = "edge_conf.d_marketplace.conf"
    assert before["configs"][key]["file"] == f"./{layout.EDGE_CONF}/marketplace.conf"
    assert before["configs"][key]["name"] != after["configs"][key]["name"]  # a new config rolls the edge
    unchanged = "edge_conf.d_proxy_headers.inc"
    assert before["configs"][unchanged]["name"] == after["configs"][unchanged]["name"]
    assert {c["target"] for c in before["services"]["edge"]["configs"]} == {
        "/etc/nginx/conf.d/marketplace.conf", "/etc/nginx/conf.d/proxy_headers.inc"}


def test_secret_env_is_a_swarm_secret_named_by_a_hash_only_the_target_knows(swarm, files, stack):
    killbill = stack["services"]["killbill"]
    assert "environment" not in killbill or not any("PASSWORD" in k for k in killbill["environment"])
    assert killbill["secrets"] == [{"source": "killbill_env", "target": "env", "mode": 0o444}]
    assert stack["secrets"]["killbill_env"] == {
        "name": f"marketplace-swarm_killbill_env_${{{hash_variable('killbill')}}}",
        "file": f"./{layout.secret_env_file('killbill')}"}
    assert killbill["entrypoint"] == ["/bin/sh", "/run/marketplace/with-env.sh"]
    assert "command" not in killbill  # the image's own, from stack.sh's entrypoints file
    # its health check reads the same env, through the same wrapper
    assert killbill["healthcheck"]["test"][:3] == ["CMD", "/bin/sh", "/run/marketplace/with-env.sh"]
    # nothing the target makes secret is in a file the stack file names in full
    text = files[layout.COMPOSE_FILE].content.decode()
    assert "PASSWORD=" not in text and "password:" not in text.lower()


def test_the_databases_file_holds_the_databases_alone(files, swarm):
    databases = yaml.safe_load(files[layout.SWARM_DATABASES].content)
    assert set(databases["services"]) == {"postgres", "redis", "cocorico-mysql", "cocorico-mongo"}
    assert set(databases["networks"]) == {n for n in swarm.networks if n.startswith("db-")}


def test_the_whole_stack_is_on_the_swarm_from_the_nas_catalog(swarm):
    """Nothing of the NAS's stack is left out for Swarm's sake (the status page aside, whose
    snapshot is a folder of the data node), and the release tasks run there too."""
    nas = load("local")
    assert set(swarm.services) == set(nas.services)
    assert {name for name, s in swarm.services.items() if s.release_tasks} == {
        name for name, s in nas.services.items() if s.release_tasks}
    assert [r.service for r in swarm.routes] == [r.service for r in nas.routes]


def test_a_release_tasks_one_off_container_can_join_the_stacks_networks(stack, files, swarm):
    import json

    assert all(net["attachable"] for net in stack["networks"].values())
    one_off = json.loads(files[layout.STACK_DESCRIPTION].content)["swarm"]["one_off"]
    assert set(one_off) == {"killbill", "condo", "cocorico"}
    assert one_off["condo"]["networks"] == [f"{swarm.project_name}_{n}" for n in swarm.networks_of("condo")]
    assert one_off["condo"]["secret_env_file"] == "secrets/condo.env"
    assert "PASSWORD" not in json.dumps(one_off["condo"]["environment"])


def test_with_env_exports_each_line_literally_and_runs_the_image_command(tmp_path):
    script = tmp_path / "with-env.sh"
    script.write_text(WITH_ENV.read_text().replace("/run/secrets/env", str(tmp_path / "env")))
    (tmp_path / "env").write_text("A=$(touch pwned) `id` 'q' \"d\" x=y\n# a comment\nB=two words\nC=no newline")
    out = subprocess.run(["sh", str(script), "sh", "-c", 'printf "%s|%s|%s" "$A" "$B" "$C"'],
                         capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert out == "$(touch pwned) `id` 'q' \"d\" x=y|two words|no newline"
    assert not (tmp_path / "pwned").exists()


@pytest.mark.docker
@pytest.mark.skipif(not shutil.which("docker"), reason="docker CLI")
def test_compose_reads_the_stack_file(files, tmp_path):
    """Compose's parser knows the compose-spec Swarm reads: the file is well-formed."""
    for path, f in files.items():
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_bytes(f.content)
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", hash_variable("killbill"): "0" * 12,
           **{hash_variable(s): "0" * 12 for s in load("swarm").services}}
    run = subprocess.run(["docker", "compose", "-f", str(tmp_path / layout.COMPOSE_FILE), "config", "-q"],
                         capture_output=True, text=True, env=env, cwd=tmp_path)
    assert run.returncode == 0, run.stderr


def test_the_status_page_is_the_schedulers_to_serve_and_the_edge_spreads(swarm, files, stack):
    import json

    edge = swarm.services["edge"]
    assert not set(edge.volumes) & set(layout.STATUS_MOUNTS)  # no folder of the data node
    assert not edge.pinned and stack["services"]["edge"]["deploy"]["replicas"] == 2
    conf = files[f"{layout.EDGE_CONF}/marketplace.conf"].content.decode()
    status = conf[conf.index(f"location ^~ {layout.STATUS_PATH}/"):]
    status = status[:status.index("\n    }\n")]
    assert f"proxy_pass http://$status_upstream:{layout.SCHEDULER_STATUS_PORT};" in status
    assert "set $status_upstream scheduler;" in status and "root " not in status and "auth_basic" not in status
    assert 'add_header Cache-Control "no-store, private" always;' in status
    described = json.loads(files[layout.STACK_DESCRIPTION].content)
    assert described["swarm"]["status_port"] == layout.SCHEDULER_STATUS_PORT
    assert described["monitoring"]["path"] == layout.STATUS_PATH
