"""The catalog: layering, port plan, derived values, and errors that name the key and file."""

from __future__ import annotations

import pytest

from deploys import catalog as catalog_mod

PORT_PLAN = {"edge": 3100, "connector": 3101, "condo": 3102, "killbill": 3103, "cocorico": 3104,
             "kaui": 3105}


def test_local_port_plan(local_catalog):
    published = {n: s.host_port for n, s in local_catalog.services.items() if s.host_port is not None}
    assert published == PORT_PLAN


def test_staging_is_local_shifted_by_its_offset(local_catalog, staging_catalog):
    assert staging_catalog.project_name != local_catalog.project_name
    assert staging_catalog.deploy_root != local_catalog.deploy_root
    for name, port in PORT_PLAN.items():
        assert staging_catalog.services[name].host_port == port + 100


def test_every_published_port_binds_loopback(local_catalog):
    assert local_catalog.bind_address == "127.0.0.1"


def test_databases_are_not_published(local_catalog):
    for name in ("postgres", "redis", "cocorico-mysql", "cocorico-mongo"):
        assert local_catalog.services[name].host_port is None


def test_no_image_uses_latest_or_is_unpinned(local_catalog):
    for svc in local_catalog.services.values():
        assert svc.build or (":" in svc.image and not svc.image.endswith(":latest"))


def test_production_asks_the_operator_for_what_has_no_public_image():
    with pytest.raises(catalog_mod.CatalogError) as err:
        catalog_mod.load("production")
    paths = {p.path: p for p in err.value.problems}
    assert set(paths) == {"services.condo.image", "services.cocorico.image", "tunnel.id",
                          "databases.killbill.ddl", "databases.kaui.ddl"}
    assert all(paths[k].source == "group_data/production.py"
               for k in ("services.condo.image", "services.cocorico.image", "tunnel.id"))
    assert "enabled=False" in paths["services.condo.image"].hint
    assert "DDL" in paths["databases.killbill.ddl"].hint


def test_production_loads_once_the_operator_answers(group_data):
    root = group_data("production", """
        services = {"condo": {"image": "registry.example/condo:2024.11.1"},
                    "cocorico": {"enabled": False}}
        routes = {"marketplace": None}
        tunnel = {"id": "6ff42ae2-765d-4adf-8112-31c55c1551ef"}
        databases = {"killbill": {"ddl": ["files/ddl/standin/killbill.sql"]},
                     "kaui": {"ddl": ["files/ddl/standin/kaui.sql", "files/ddl/kaui-admin.sql"]}}
    """)
    catalog = catalog_mod.load("production", root)
    assert "cocorico" not in catalog.services
    assert catalog.services["condo"].image == "registry.example/condo:2024.11.1"
    assert catalog.services["killbill"].image == "killbill/killbill:0.24.11"
    assert catalog.deploy_root == "/volume1/web/marketplace"
    assert [r.name for r in catalog.routes if r.hostname == "boma.wattsun.co.ke"] == ["billing", "api"]


def test_killbill_is_served_under_billing_with_the_prefix_stripped(local_catalog):
    route = local_catalog.services["killbill"].routes[0]
    assert (route.hostname, route.path, route.strip_prefix) == ("boma.localhost", "/billing", True)
    assert local_catalog.services["killbill"].health_url == "/billing/1.0/healthcheck"


def test_kaui_and_condo_get_their_own_hostnames_cocorico_the_root(local_catalog):
    assert [(r.hostname, r.path) for r in local_catalog.services["kaui"].routes] == [("kaui.boma.localhost", "/")]
    assert [(r.hostname, r.path) for r in local_catalog.services["condo"].routes] == [("condo.boma.localhost", "/")]
    assert [(r.hostname, r.path) for r in local_catalog.services["cocorico"].routes] == [("boma.localhost", "/")]


def test_routes_are_ordered_most_specific_first(local_catalog):
    main = [r.path for r in local_catalog.routes if r.hostname == "boma.localhost"]
    assert main.index("/") == len(main) - 1


def test_db_macros_expand_to_secret_tokens_not_values(local_catalog):
    connector = local_catalog.services["connector"]
    assert connector.secret_env["DATABASE_URL"] == \
        "postgresql://connector:{secret:db_marketplace_password}@postgres:5432/marketplace"
    assert local_catalog.services["killbill"].env["KILLBILL_DAO_URL"] == "jdbc:postgresql://postgres:5432/killbill"
    assert connector.secrets == [
        "db_connector_cache_password", "db_marketplace_password", "jwt_signing", "killbill_admin_password",
        "killbill_api_secret", "webhook_cocorico_hmac", "webhook_condo_hmac", "webhook_killbill_hmac"]


def test_killbill_and_kaui_use_their_own_databases(local_catalog):
    assert local_catalog.services["killbill"].env["KILLBILL_DAO_URL"].endswith("/killbill")
    assert local_catalog.services["kaui"].env["KAUI_CONFIG_DAO_URL"].endswith("/kaui")


def test_each_service_gets_its_own_secret_env_file(local_catalog):
    assert set(local_catalog.secret_files) == {n for n, s in local_catalog.services.items() if s.secret_env}
    assert "KB_ADMIN_PASSWORD" not in local_catalog.secret_files["kaui"]
    # Kill Bill's admin: Kill Bill, and the connector that calls it as its tenant
    assert local_catalog.secret_users("killbill_admin_password") == ["connector", "killbill"]
    # each app has its own Redis user: rotating one restarts that app only, never the server
    assert local_catalog.secret_users("db_connector_cache_password") == ["connector"]
    assert local_catalog.secret_users("redis_admin_password") == ["redis"]


def test_key_macros_mount_the_key_pair_read_only(local_catalog):
    connector, condo = local_catalog.services["connector"], local_catalog.services["condo"]
    assert connector.env["JWT_PRIVATE_KEY_FILE"] == "/run/secrets/marketplace/jwt_signing.pem"
    assert connector.volumes["secrets/keys"] == "/run/secrets/marketplace:ro"
    assert condo.env["JWT_PUBLIC_KEY_FILE"] == "/run/marketplace/keys/jwt_signing.pub.pem"
    assert condo.volumes == {"public/keys": "/run/marketplace/keys:ro"}
    assert local_catalog.secret_users("jwt_signing") == ["connector", "condo", "cocorico"]


def test_connector_integrations_come_from_the_health_routes(local_catalog):
    import json

    integrations = json.loads(local_catalog.services["connector"].env["INTEGRATIONS"])
    assert integrations["killbill"] == "http://killbill:8080/1.0/healthcheck"
    assert "connector" not in integrations and "postgres" not in integrations


def test_disabling_a_service_drops_it_and_flags_its_dependents(group_data):
    root = group_data("local", """
        extends = ["standins"]
        hostnames = {"main": "boma.localhost", "kaui": "kaui.boma.localhost",
                     "condo": "condo.boma.localhost"}
        services = {"killbill": {"enabled": False}}
    """)
    with pytest.raises(catalog_mod.CatalogError) as err:
        catalog_mod.load("local", root)
    problem = next(p for p in err.value.problems if p.path == "services.kaui.depends_on")
    assert "'killbill' is unknown or disabled" in problem.message
    assert problem.source.endswith("all.py")


@pytest.mark.parametrize("override, path, words", [
    ('services = {"connector": {"env": {"X": "{db:marketplace.password}"}}}',
     "services.connector.env.X", "belongs in secret_env"),
    ('services = {"connector": {"env": {"X": "{secret:killbill_api_secret}"}}}',
     "services.connector.env.X", "belongs in secret_env"),
    ('services = {"connector": {"secret_env": {"X": "{secret:nope}"}}}',
     "services.connector.secret_env", "secret 'nope' is not declared"),
    ('services = {"connector": {"secret_env": {"X": "{db:nope.url}"}}}',
     "services.connector.secret_env.X", "unknown database 'nope'"),
    ('services = {"edge": {"image": None, "build": None}}',
     "services.edge.image", "no image and no build context"),
])
def test_bad_input_names_the_key_path(group_data, override, path, words):
    root = group_data("local", 'extends = ["standins"]\n' + override)
    with pytest.raises(catalog_mod.CatalogError) as err:
        catalog_mod.load("local", root)
    matching = [p for p in err.value.problems if p.path == path]
    assert matching and words in matching[0].message
    assert matching[0].source.endswith("local.py") or matching[0].source.endswith("all.py")


def test_every_problem_is_listed_at_once(group_data):
    root = group_data("local", '''
        extends = ["standins"]
        services = {"edge": {"image": None, "build": None},
                    "connector": {"secret_env": {"X": "{secret:nope}"}}}
    ''')
    with pytest.raises(catalog_mod.CatalogError) as err:
        catalog_mod.load("local", root)
    assert len(err.value.problems) == 2
    assert "2 problem(s)" in str(err.value)


def test_unknown_target_is_refused():
    with pytest.raises(catalog_mod.CatalogError, match="no group_data file"):
        catalog_mod.load("qa")


# -- targets: a file of group_data that says how to reach it ----------------------------------

def test_targets_are_the_group_data_files_that_say_how_to_reach_them():
    assert catalog_mod.targets() == ["k8s", "local", "production", "staging", "swarm"]  # not all.py, not standins.py


def test_a_new_target_is_a_file_and_nothing_else(group_data):
    root = group_data("nas2", """
        extends = ["production"]
        ssh_hostname = "nas2.example.lan"
        tunnel = {"id": "11111111-1111-4111-8111-111111111111"}
    """)
    assert "nas2" in catalog_mod.draft.targets(root)
    conn = catalog_mod.connection("nas2", root)
    # production's connection path (user, sudo, SCP, temp dir), its own address
    assert conn["ssh_user"] == "deploy" and conn["_sudo"] is True and conn["_temp_dir"] == "/volume1/@tmp"
    assert conn["ssh_file_transfer_protocol"] == "scp" and conn["ssh_hostname"] == "nas2.example.lan"


def test_extends_chains_and_each_file_counts_once(group_data):
    group_data("base2", 'extends = ["standins"]\nproject_name = "from-base2"\nport_offset = 7\n')
    root = group_data("chained", 'extends = ["base2", "standins"]\nssh_hostname = "x"\nport_offset = 9\n')
    names = [path.stem for path, _ in catalog_mod.layers("chained", root)]
    assert names == ["all", "standins", "base2", "chained"]
    catalog = catalog_mod.load("chained", root)
    assert catalog.project_name == "from-base2" and catalog.port_offset == 9


def test_an_extends_circle_is_an_error_naming_it(group_data):
    group_data("loop_a", 'extends = ["loop_b"]\nssh_hostname = "x"\n')
    root = group_data("loop_b", 'extends = ["loop_a"]\n')
    with pytest.raises(catalog_mod.CatalogError, match=r"loop_a -> loop_b -> loop_a is a circle"):
        catalog_mod.layers("loop_a", root)
