"""`nasops tenant` without a network: Kill Bill's and Kaui's answers as their APIs and screens
give them (Kill Bill's tenant resource, Kaui's Rails forms), through a fake at the HTTP boundary."""

from __future__ import annotations

import io
import json
from urllib.parse import parse_qs

import pytest

from nasops import tenant
from nasops.tenant import Answer
from tests.nasops_fixtures import catalog_with, stack_in


@pytest.fixture
def stack(tmp_path):
    s = stack_in(tmp_path, catalog_with(tmp_path, target="staging"))
    (s.root / "secrets/values").mkdir(parents=True)
    s.file(s.tenant["admin_password_file"]).write_text("kb-admin-pw\n")
    s.file(s.tenant["api_secret_file"]).write_text("api-secret-value\n")
    (s.root / "releases").mkdir()
    return s


class Apps:
    """Kill Bill (tenants by API key, basic auth) and Kaui (sign-in, tenant list, add form)."""

    def __init__(self, tenants=None, kaui_tenants=None, admin_pw="kb-admin-pw", kaui_allows=True):
        self.tenants = dict(tenants or {})
        self.kaui_tenants = list(kaui_tenants or [])
        self.admin_pw, self.kaui_allows = admin_pw, kaui_allows
        self.calls = []

    def __call__(self, base, host, method, path, body=None, headers=None):
        self.calls.append((host, method, path, body, dict(headers or {})))
        headers = headers or {}
        if path.startswith("/1.0/kb/tenants"):
            import base64
            user = base64.b64decode(headers.get("Authorization", "Basic ").split()[1] or b"").decode()
            if user != f"admin:{self.admin_pw}":
                return Answer(401, "", {})
            if method == "GET":
                key = parse_qs(path.split("?", 1)[1])["apiKey"][0]
                if key not in self.tenants:
                    return Answer(404, "", {})
                return Answer(200, json.dumps({"tenantId": self.tenants[key], "apiKey": key}), {})
            sent = json.loads(body)
            self.tenants[sent["apiKey"]] = "t-1"
            return Answer(201, "", {"location": "/1.0/kb/tenants/t-1"})
        token = '<input type="hidden" name="authenticity_token" value="tok+/=" />'
        if path == "/users/sign_in" and method == "GET":
            return Answer(200, f"<form>{token}</form>", {}, ["_kaui_session=s1; path=/; HttpOnly"])
        if path == "/users/sign_in":
            form = parse_qs(body.decode())
            assert form["authenticity_token"] == ["tok+/="] and headers["Cookie"] == "_kaui_session=s1"
            ok = self.kaui_allows and form["user[password]"] == [self.admin_pw]
            return Answer(302, "", {"location": "http://kaui/" if ok else "http://kaui/users/sign_in"},
                          ["_kaui_session=s2; path=/"])
        if path == "/admin_tenants" and method == "GET":
            rows = "".join(f"<tr><td>{k}</td></tr>" for k in self.kaui_tenants)
            return Answer(200, f"<table>{rows}</table>", {})
        if path == "/admin_tenants/new":
            return Answer(200, f"<form>{token}</form>", {})
        if path == "/admin_tenants":
            form = parse_qs(body.decode())
            assert headers["Cookie"] == "_kaui_session=s2"
            self.kaui_tenants.append(form["tenant[api_key]"][0])
            return Answer(302, "", {"location": "http://kaui/admin_tenants/7"})
        return Answer(404, "", {})


def run(stack, apps):
    out, err = io.StringIO(), io.StringIO()
    return tenant.main(stack, out, err, send=apps), out.getvalue(), err.getvalue()


def test_a_missing_tenant_is_made_in_kill_bill_and_added_to_kaui(stack):
    apps = Apps()
    rc, out, err = run(stack, apps)
    assert rc == 0, err
    assert out.splitlines() == ["tenant: created t-1 (marketplace)", "tenant: added marketplace (marketplace) to Kaui, for admin"]
    assert apps.tenants == {"marketplace": "t-1"} and apps.kaui_tenants == ["marketplace"]
    post = next(c for c in apps.calls if c[1] == "POST" and c[2] == "/1.0/kb/tenants")
    assert json.loads(post[3]) == {"apiKey": "marketplace", "apiSecret": "api-secret-value", "externalKey": "marketplace"}
    assert post[0] == stack.tenant["host"] and post[4]["X-Killbill-CreatedBy"] == "marketplace-deploy"
    audit = (stack.root / "releases/audit.log").read_text()
    assert "tenant t-1 (marketplace) created in Kill Bill" in audit and "added to Kaui, for admin" in audit
    # the secrets travel in the requests' bodies and headers only, never in a URL
    assert not [c for c in apps.calls if "api-secret-value" in c[2] or "kb-admin-pw" in c[2]]


def test_a_second_run_makes_nothing(stack):
    apps = Apps(tenants={"marketplace": "t-9"}, kaui_tenants=["marketplace"])
    rc, out, _ = run(stack, apps)
    assert rc == 0
    assert out.splitlines() == ["tenant: t-9 (marketplace) is there: nothing to create",
                                "tenant: Kaui lists marketplace (marketplace): nothing to add"]
    assert [c[1] for c in apps.calls if c[1] == "POST"] == ["POST"]  # the sign-in only


@pytest.mark.parametrize("apps,message", [
    (Apps(admin_pw="another"), "Kill Bill refused its admin admin (401): the password in secrets/values/killbill_admin_password is not Kill Bill's"),
    (Apps(kaui_allows=False), "Kaui refused admin: Kill Bill's admin must be in kaui_allowed_users"),
])
def test_a_refusal_says_what_to_fix(stack, apps, message):
    rc, _, err = run(stack, apps)
    assert rc == 1 and message in err


def test_no_tenant_is_said_so(tmp_path):
    stack = stack_in(tmp_path, catalog_with(tmp_path, "killbill_tenant = {'enabled': False}\n", target="staging"))
    assert run(stack, Apps()) == (0, "tenant: none (killbill_tenant)\n", "")
