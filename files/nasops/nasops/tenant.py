"""`nasops tenant` (scripts/tenant.sh): Kill Bill's tenant, made by a release once Kill Bill is
healthy, and told to Kaui.

Kill Bill: asked for by its API key (GET /1.0/kb/tenants?apiKey=) as Kill Bill's admin; created
only when Kill Bill answers 404 (POST /1.0/kb/tenants), so a second run creates nothing. Kaui:
signed in to as the admin on its own screens, as a person would (Rails' authenticity_token with
every form, the session in a cookie); its tenant list (/admin_tenants) is read first, and only
when it lacks the API key is the tenant added there (Kaui writes kaui_tenants, the secret
encrypted by its own key). Both through the edge, as the tunnel reaches them. The admin's
password and the API secret are read from their files and sent in the requests only."""

from __future__ import annotations

import base64
import html
import http.client
import json
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode, urlsplit

TIMEOUT_S = 30
TOKEN = re.compile(r'name="authenticity_token" value="([^"]*)"')
TENANT_PAGE = re.compile(r"/admin_tenants/\d+$")


class Failed(Exception):
    """What stopped it, said as `tenant: ...`."""


@dataclass
class Answer:
    status: int
    body: str
    headers: dict[str, str]
    cookies: list[str] = field(default_factory=list)


def request(base: str, host: str, method: str, path: str, body: bytes | None = None,
            headers: dict[str, str] | None = None) -> Answer:
    """One HTTP request to base+path with Host: host; redirects are not followed; no answer is
    status 0."""
    parts = urlsplit(base)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=TIMEOUT_S)
    try:
        conn.request(method, parts.path.rstrip("/") + path, body=body, headers={"Host": host, **(headers or {})})
        r = conn.getresponse()
        return Answer(r.status, r.read().decode(errors="replace"), {k.lower(): v for k, v in r.getheaders()},
                      r.headers.get_all("Set-Cookie") or [])
    except (OSError, http.client.HTTPException) as e:
        return Answer(0, str(e), {})
    finally:
        conn.close()


def secret(stack, relative: str) -> str:
    try:
        return stack.file(relative).read_text().splitlines()[0]
    except (OSError, IndexError):
        raise Failed(f"the secret {relative} is missing (a deploy makes it)") from None


class KillBill:
    def __init__(self, spec: dict, password: str, send=request):
        self.spec = spec
        self.send = send
        auth = base64.b64encode(f"{spec['admin_user']}:{password}".encode()).decode()
        self.headers = {"Authorization": f"Basic {auth}", "Accept": "application/json",
                        "Content-Type": "application/json", "X-Killbill-CreatedBy": "marketplace-deploy"}

    def call(self, method: str, path: str, body: dict | None = None) -> Answer:
        return self.send(self.spec["base_url"], self.spec["host"], method, path,
                         json.dumps(body).encode() if body is not None else None, self.headers)

    def lookup(self) -> Answer:
        return self.call("GET", f"/1.0/kb/tenants?{urlencode({'apiKey': self.spec['api_key']})}")

    def ensure(self, api_secret: str, say, audit) -> str:
        """The tenant's id, made when Kill Bill has none under the key."""
        s = self.spec
        found = self.lookup()
        if found.status == 200:
            say(f"tenant: {tenant_id(found)} ({s['external_key']}) is there: nothing to create")
            return tenant_id(found)
        if found.status in (401, 403):
            raise Failed(f"Kill Bill refused its admin {s['admin_user']} ({found.status}): the password in "
                         f"{s['admin_password_file']} is not Kill Bill's")
        if found.status != 404:
            raise Failed(f"Kill Bill answered {found.status:03d} at {s['base_url']}/1.0/kb/tenants: {found.body[:300]}")
        made = self.call("POST", "/1.0/kb/tenants", {"apiKey": s["api_key"], "apiSecret": api_secret,
                                                     "externalKey": s["external_key"]})
        if made.status not in (201, 409):  # 409: made meanwhile by someone else, under this key
            raise Failed(f"Kill Bill answered {made.status:03d} to creating the tenant: {made.body[:300]}")
        found = self.lookup()
        if found.status != 200:
            raise Failed(f"created, but Kill Bill answers {found.status:03d} when asked for it")
        audit(f"tenant {tenant_id(found)} ({s['external_key']}) created in Kill Bill")
        say(f"tenant: created {tenant_id(found)} ({s['external_key']})")
        return tenant_id(found)


def tenant_id(answer: Answer) -> str:
    try:
        return str(json.loads(answer.body).get("tenantId", ""))
    except (ValueError, AttributeError):
        return ""


class Kaui:
    """Kaui's screens, as a browser drives them: a session cookie and each form's token."""

    def __init__(self, spec: dict, send=request):
        self.spec = spec
        self.send = send
        self.cookies: dict[str, str] = {}

    def call(self, method: str, path: str, form: dict | None = None) -> Answer:
        headers = {}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        answer = self.send(self.spec["base_url"], self.spec["host"], method, path,
                           urlencode(form).encode() if form is not None else None, headers)
        for cookie in answer.cookies:
            name, _, value = cookie.split(";", 1)[0].partition("=")
            self.cookies[name.strip()] = value.strip()
        return answer

    def form(self, page: Answer, **fields) -> dict:
        token = TOKEN.search(page.body)
        if not token:
            raise Failed(f"Kaui's page has no authenticity_token: is {self.spec['host']} Kaui?")
        return {"authenticity_token": html.unescape(token.group(1)), **fields}

    def lists(self, page: Answer, api_key: str) -> bool:
        return f"<td>{html.escape(api_key)}</td>" in page.body

    def ensure(self, admin: str, password: str, api_key: str, external_key: str, api_secret: str, say, audit) -> None:
        host = self.spec["host"]
        page = self.call("GET", "/users/sign_in")
        if page.status != 200:
            raise Failed(f"Kaui answered {page.status:03d} at https://{host}/users/sign_in")
        signed = self.call("POST", "/users/sign_in", self.form(page, **{"user[kb_username]": admin,
                                                                      "user[password]": password}))
        where = signed.headers.get("location", "")
        if signed.status == 302 and (not where or where.endswith("/users/sign_in")):
            raise Failed(f"Kaui refused {admin}: Kill Bill's admin must be in kaui_allowed_users (files/ddl/kaui-admin.sql)")
        if signed.status != 302:
            raise Failed(f"Kaui answered {signed.status:03d} to signing in")
        page = self.call("GET", "/admin_tenants")
        if page.status != 200:
            raise Failed(f"Kaui answered {page.status:03d} at /admin_tenants")
        if self.lists(page, api_key):
            say(f"tenant: Kaui lists {api_key} ({external_key}): nothing to add")
            return
        new = self.call("GET", "/admin_tenants/new")
        if new.status != 200:
            raise Failed(f"Kaui answered {new.status:03d} at /admin_tenants/new")
        added = self.call("POST", "/admin_tenants", self.form(new, **{
            "tenant[name]": external_key, "tenant[api_key]": api_key, "tenant[api_secret]": api_secret}))
        where = added.headers.get("location", "")
        if added.status != 302 or not TENANT_PAGE.search(where):
            raise Failed(f"Kaui did not add the tenant (it answered {added.status:03d}{', to ' + where if where else ''}; "
                         "its log says why)")
        page = self.call("GET", "/admin_tenants")
        if not self.lists(page, api_key):
            raise Failed(f"added, but Kaui's tenant list lacks {api_key} ({page.status:03d})")
        audit(f"tenant {external_key} added to Kaui, for {admin}")
        say(f"tenant: added {api_key} ({external_key}) to Kaui, for {admin}")


def main(stack, out, err, send=request) -> int:
    spec = stack.tenant
    audit = stack.audit

    def say(text: str) -> None:
        out.write(text + "\n")
        out.flush()

    if not spec:
        say("tenant: none (killbill_tenant)")
        return 0
    try:
        password = secret(stack, spec["admin_password_file"])
        api_secret = secret(stack, spec["api_secret_file"])
        KillBill(spec, password, send).ensure(api_secret, say, audit)
        if spec["kaui"]:
            Kaui(spec["kaui"], send).ensure(spec["admin_user"], password, spec["api_key"], spec["external_key"],
                                            api_secret, say, audit)
    except Failed as e:
        err.write(f"tenant: {e}\n")
        return 1
    return 0
