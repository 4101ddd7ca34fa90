"""Kill Bill's tenant on the staging target: the deploy leaves one that answers an authenticated
call (through the edge, as the tunnel reaches Kill Bill), the Connector reports that it can
authenticate, Kaui knows it (a person who logs in to Kaui in Chromium sees it), and a second
release creates nothing. The Kill Bill stand-in keeps its tenants in the real killbill database
and answers as Kill Bill's API does (401, 404, 201, 409); the Kaui stand-in's screens write
Kaui's own tables in the real kaui database."""

from __future__ import annotations

import subprocess
import time

import pytest
import requests

from tests.support.browser import Browser
from tests.support.clone import Clone
from tests.support.staging import NAS, REPO, psql, secret_values
from tests.test_e2e_releases import newest, releases_dir

pytestmark = pytest.mark.e2e
STAGING = "group_data/staging.py"
OUT = REPO / "out"


def kb(catalog, method: str, path: str, **kw) -> requests.Response:
    """Kill Bill's API through the edge (127.0.0.1 with the hostname as Host)."""
    route = catalog.services["killbill"].routes[0]
    return requests.request(method, f"http://127.0.0.1:{catalog.edge.host_port}{route.prefix}{path}",
                            headers={"Host": route.hostname, **kw.pop("headers", {})}, timeout=10, **kw)


def test_the_deploy_leaves_a_tenant_that_answers_an_authenticated_call(staging_stack):
    values = secret_values(staging_stack)
    admin = ("admin", values["killbill_admin_password"])
    key, secret = staging_stack.killbill_tenant["api_key"], values["killbill_api_secret"]
    found = kb(staging_stack, "GET", "/1.0/kb/tenants", params={"apiKey": key}, auth=admin)
    assert found.status_code == 200 and found.json()["externalKey"] == "marketplace"
    as_tenant = {"X-Killbill-ApiKey": key, "X-Killbill-ApiSecret": secret}
    assert kb(staging_stack, "GET", "/1.0/kb/accounts/pagination", headers=as_tenant, auth=admin).status_code == 200
    wrong = {**as_tenant, "X-Killbill-ApiSecret": secret + "x"}
    assert kb(staging_stack, "GET", "/1.0/kb/accounts/pagination", headers=wrong, auth=admin).status_code == 401
    assert kb(staging_stack, "GET", "/1.0/kb/tenants", params={"apiKey": key}).status_code == 401  # no user
    assert psql(staging_stack, "SELECT count(*) FROM tenants", database="killbill") == "1"
    stored = psql(staging_stack, "SELECT api_secret FROM tenants", database="killbill")
    assert secret not in stored  # Kill Bill keeps a salted hash
    deadline = time.monotonic() + 30  # the connector's health answer is cached a few seconds
    while True:
        health = requests.get(f"http://127.0.0.1:{staging_stack.edge.host_port}/api/health",
                              headers={"Host": staging_stack.hostnames["main"]}, timeout=10).json()
        if health.get("killbill_auth") is True or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert health["killbill_auth"] is True


def test_a_second_release_creates_no_tenant_and_kill_bill_refuses_a_duplicate(staging_stack, tmp_path_factory):
    values = secret_values(staging_stack)
    clone = Clone(tmp_path_factory.mktemp("tenant") / "repo")
    commit = clone.commit("release K: a kaui setting", append={
        STAGING: '\nservices = {"kaui": {"env": {"RELEASE_K": "1"}}}\n'})
    result = clone.deploy()
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    rid = newest(staging_stack)
    assert rid.endswith(commit[:7])
    applied = (releases_dir(staging_stack) / rid / "apply.log").read_text()  # the release's own output
    assert "(marketplace) is there: nothing to create" in applied
    assert "tenant: Kaui lists marketplace (marketplace): nothing to add" in applied
    assert psql(staging_stack, "SELECT count(*) FROM kaui_tenants", database="kaui") == "1"
    assert psql(staging_stack, "SELECT count(*) FROM kaui_allowed_user_tenants", database="kaui") == "1"
    assert psql(staging_stack, "SELECT count(*) FROM tenants", database="killbill") == "1"
    created = [line for line in (releases_dir(staging_stack) / "audit.log").read_text().splitlines()
               if "created in Kill Bill" in line]
    assert len(created) <= 1
    again = kb(staging_stack, "POST", "/1.0/kb/tenants", auth=("admin", values["killbill_admin_password"]),
               headers={"X-Killbill-CreatedBy": "e2e", "Content-Type": "application/json"},
               json={"apiKey": staging_stack.killbill_tenant["api_key"], "apiSecret": "another", "externalKey": "dup"})
    assert again.status_code == 409
    for name in ("killbill_api_secret", "killbill_admin_password"):
        assert values[name] not in output + applied, name  # never in the deploy's output or the release's


def kaui_url(catalog, path: str = "/") -> str:
    """Kaui through the edge as a browser reaches it (Chromium resolves *.localhost itself)."""
    return f"http://{catalog.tenant_kaui.hostname}:{catalog.edge.host_port}{path}"


def test_kaui_knows_the_tenant_and_the_admin(staging_stack):
    kb_id = psql(staging_stack, "SELECT id FROM tenants WHERE api_key = 'marketplace'", database="killbill")
    row = psql(staging_stack, "SELECT name, kb_tenant_id, api_key, encrypted_api_secret FROM kaui_tenants", database="kaui")
    name, tenant_id, key, stored = row.split("|")
    assert (name, tenant_id, key) == ("marketplace", kb_id, "marketplace")
    assert stored.startswith("QEVuQw")  # base64 of symmetric-encryption's "@EnC" header
    assert secret_values(staging_stack)["killbill_api_secret"] not in stored
    allowed = psql(staging_stack, "SELECT u.kb_username FROM kaui_allowed_users u JOIN kaui_allowed_user_tenants l "
                   "ON l.kaui_allowed_user_id = u.id JOIN kaui_tenants t ON t.id = l.kaui_tenant_id", database="kaui")
    assert allowed == "admin"


def test_a_person_who_logs_in_to_kaui_sees_the_tenant(staging_stack, tmp_path):
    password = secret_values(staging_stack)["killbill_admin_password"]
    with Browser(tmp_path / "profile") as browser:
        browser.open(kaui_url(staging_stack))
        assert browser.url().endswith("/users/sign_in") and "Log in to your account" in browser.text()
        browser.fill_and_submit({"user_kb_username": "admin", "user_password": password + "x"})
        assert browser.url().endswith("/users/sign_in") and "Invalid" in browser.text()
        browser.fill_and_submit({"user_kb_username": "admin", "user_password": password})
        shown = browser.text()
        browser.screenshot(OUT / "kaui-signed-in.png")
        assert browser.url() == kaui_url(staging_stack)
        assert "Tenant: marketplace" in shown
        assert "Kill Bill accepts this tenant's API key and secret" in shown  # Kaui decrypted the secret it keeps
        browser.open(kaui_url(staging_stack, "/admin_tenants"))
        browser.screenshot(OUT / "kaui-tenants.png")
        assert "marketplace" in browser.text()


def test_a_kaui_that_lost_the_tenant_is_told_again_and_a_form_without_its_token_is_refused(staging_stack):
    psql(staging_stack, "DELETE FROM kaui_allowed_user_tenants; DELETE FROM kaui_tenants", database="kaui")
    script = f"{staging_stack.deploy_root}/scripts/tenant.sh"
    told = subprocess.run(["docker", "exec", NAS, "bash", script], capture_output=True, text=True)
    assert told.returncode == 0, told.stdout + told.stderr
    assert "tenant: added marketplace (marketplace) to Kaui, for admin" in told.stdout
    assert psql(staging_stack, "SELECT count(*) FROM kaui_tenants", database="kaui") == "1"
    again = subprocess.run(["docker", "exec", NAS, "bash", script], capture_output=True, text=True)
    assert again.returncode == 0 and "Kaui lists marketplace (marketplace): nothing to add" in again.stdout
    forged = requests.post(f"http://127.0.0.1:{staging_stack.edge.host_port}/users/sign_in",
                           headers={"Host": staging_stack.tenant_kaui.hostname}, allow_redirects=False, timeout=10,
                           data={"user[kb_username]": "admin", "user[password]": "x"})
    assert forged.status_code == 422  # Rails' InvalidAuthenticityToken
