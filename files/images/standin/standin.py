#!/usr/bin/env python3
"""STAND-IN servers for the apps that cannot run on a machine without a registry or Cloudflare.

Each one answers its app's documented health route (FIELD-NOTES.md) with a real check of the
real databases it is given, and says in every response that it is a stand-in:

  standin killbill   :8080  GET /1.0/healthcheck  200, every entry healthy (500 if not; its
                            tables must exist: the real one never creates them); the tenant
                            API: GET/POST /1.0/kb/tenants (admin's basic auth; 404, 201, 409)
                            and a tenant's call, GET /1.0/kb/accounts/pagination (401 unless
                            X-Killbill-ApiKey/-ApiSecret are a tenant's)
  standin kaui       :8080  GET /health           {"status": "UP"} (its tables and admin row exist);
                            its screens: sign-in (checked against Kill Bill), tenants, admin
                            tenants (the kaui_* rows, the API secret encrypted)
  standin condo      :PORT  GET /server-health?checks=postgres,redis  200 statusText "pass"
  standin cocorico   :80    GET / -> 302 /en/;  GET /en/  200 (MySQL and MongoDB checked)
  standin mongodb    :27017 MongoDB wire protocol: answers hello/ping (no auth, no storage)
  standin task NAME  a release task: killbill-ddl-check, condo-migrate, cocorico-schema-update
                     (on the real databases), fail (exits 3, as a broken migration would)
  cloudflared tunnel ... --metrics ADDR run    loads config.yml (or, with TUNNEL_TOKEN and no
                                               --config, none: remotely managed), serves /ready,
                                               never dials out
  cloudflared tunnel --metrics ADDR ready      exit 0 when /ready answers 200
  cloudflared tunnel --config X ingress validate   exit 1 when cloudflared would refuse X
"""

from __future__ import annotations

import json
import os
import signal
import socket
import socketserver
import struct
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

STANDIN = "stand-in: not the real application; it mimics only the documented routes the deploy uses"
STARTED = time.time()


# -- real checks against the real databases ---------------------------------------------------

def check_postgres(url: str, user: str | None = None, password: str | None = None,
                   query: str = "SELECT 1") -> str | None:
    """None when an authenticated query works (and returns a row), else the error."""
    import psycopg2

    try:
        if url.startswith("jdbc:"):
            url = url[len("jdbc:"):]
        conn = psycopg2.connect(url, user=user, password=password, connect_timeout=3)
        with conn, conn.cursor() as cur:
            cur.execute(query)
            if cur.fetchone() is None:
                return f"no row from: {query}"
        conn.close()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure is the answer
        return str(exc).strip()


def check_redis(url: str) -> str | None:
    import redis

    try:
        redis.Redis.from_url(url, socket_timeout=3).ping()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc)


def check_mysql(host: str, port: int, user: str, password: str, database: str) -> str | None:
    import pymysql

    try:
        conn = pymysql.connect(host=host, port=port, user=user, password=password,
                               database=database, connect_timeout=3)
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
        conn.close()
        return None
    except Exception as exc:  # noqa: BLE001
        return str(exc)


def check_mongodb(url: str) -> str | None:
    parts = urlsplit(url)
    try:
        return None if mongo_ping(parts.hostname or "localhost", parts.port or 27017) else "ping not ok"
    except OSError as exc:
        return str(exc)


# -- a minimal MongoDB wire protocol (OP_MSG with one BSON body) -------------------------------

def bson_encode(doc: dict) -> bytes:
    out = b""
    for key, value in doc.items():
        name = key.encode() + b"\0"
        if isinstance(value, bool):
            out += b"\x08" + name + (b"\x01" if value else b"\x00")
        elif isinstance(value, int):
            out += b"\x10" + name + struct.pack("<i", value)
        elif isinstance(value, float):
            out += b"\x01" + name + struct.pack("<d", value)
        else:
            raw = str(value).encode() + b"\0"
            out += b"\x02" + name + struct.pack("<i", len(raw)) + raw
    return struct.pack("<i", len(out) + 5) + out + b"\0"


def bson_decode(data: bytes) -> dict:
    doc, pos, end = {}, 4, struct.unpack_from("<i", data)[0] - 1
    while pos < end:
        kind = data[pos]
        nul = data.index(b"\0", pos + 1)
        key, pos = data[pos + 1:nul].decode(), nul + 1
        if kind == 0x01:
            doc[key], pos = struct.unpack_from("<d", data, pos)[0], pos + 8
        elif kind == 0x10:
            doc[key], pos = struct.unpack_from("<i", data, pos)[0], pos + 4
        elif kind == 0x12:
            doc[key], pos = struct.unpack_from("<q", data, pos)[0], pos + 8
        elif kind == 0x08:
            doc[key], pos = bool(data[pos]), pos + 1
        elif kind == 0x02:
            size = struct.unpack_from("<i", data, pos)[0]
            doc[key], pos = data[pos + 4:pos + 3 + size].decode(), pos + 4 + size
        elif kind in (0x03, 0x04):
            size = struct.unpack_from("<i", data, pos)[0]
            doc[key], pos = bson_decode(data[pos:pos + size]), pos + size
        else:
            break  # a type this stand-in does not read: ignore the rest
    return doc


def op_msg(request_id: int, body: dict, response_to: int = 0) -> bytes:
    payload = struct.pack("<I", 0) + b"\x00" + bson_encode(body)
    return struct.pack("<iiii", 16 + len(payload), request_id, response_to, 2013) + payload


def mongo_ping(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=3) as sock:
        sock.sendall(op_msg(1, {"ping": 1, "$db": "admin"}))
        header = recv_exact(sock, 16)
        length = struct.unpack_from("<i", header)[0]
        body = recv_exact(sock, length - 16)
        return bson_decode(body[5:]).get("ok") == 1.0


def recv_exact(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data


class MongoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while True:
            try:
                header = recv_exact(self.request, 16)
            except OSError:
                return
            length, request_id, _, opcode = struct.unpack("<iiii", header)
            body = recv_exact(self.request, length - 16)
            command = bson_decode(body[5:]) if opcode == 2013 else {}
            reply = {"ok": 1.0, "standin": STANDIN}
            if set(command) & {"hello", "isMaster", "ismaster"}:
                reply.update({"ismaster": True, "isWritablePrimary": True, "maxWireVersion": 9,
                              "minWireVersion": 0, "maxBsonObjectSize": 16777216})
            self.request.sendall(op_msg(request_id + 1, reply, request_id))


# -- HTTP apps --------------------------------------------------------------------------------

def killbill(path: str, query: dict, request: dict | None = None):
    if path.startswith("/1.0/kb/"):
        return killbill_api(path, query, request or {})
    if path != "/1.0/healthcheck":
        return 404, {"error": "not found"}
    # Kill Bill never creates its tables: without its DDL loaded it is not healthy.
    err = check_postgres(os.environ["KILLBILL_DAO_URL"], os.environ.get("KILLBILL_DAO_USER"),
                         os.environ.get("KILLBILL_DAO_PASSWORD"),
                         "SELECT count(*) FROM tenants, accounts, invoices, users, sessions")
    checks = {"main": {"healthy": True, "message": "stand-in running"},
              "DAOHealthCheck": {"healthy": err is None, "message": err or "schema loaded, query ok"}}
    return (200 if err is None else 500), checks


def _basic_auth(headers) -> tuple[str, str] | None:
    import base64

    value = (headers or {}).get("Authorization") or ""
    if not value.startswith("Basic "):
        return None
    user, _, password = base64.b64decode(value[6:]).decode(errors="replace").partition(":")
    return user, password


def _secret_hash(secret: str, salt: str) -> str:
    import hashlib

    return hashlib.sha256((salt + secret).encode()).hexdigest()


def killbill_api(path: str, query: dict, request: dict):
    """Kill Bill's tenant API as documented (kill-bill.org, Tenant): every call as a Kill Bill
    user (basic auth; the stand-in knows `admin`, password KB_ADMIN_PASSWORD); tenant calls also
    with X-Killbill-ApiKey/-ApiSecret. Tenants live in the real killbill database (`tenants`)."""
    import uuid

    import psycopg2

    headers = request.get("headers") or {}
    if _basic_auth(headers) != ("admin", os.environ.get("KB_ADMIN_PASSWORD")):
        return 401, {"message": "Authentication required"}, {"WWW-Authenticate": 'Basic realm="killbill"'}
    conn = psycopg2.connect(os.environ["KILLBILL_DAO_URL"][len("jdbc:"):], user=os.environ.get("KILLBILL_DAO_USER"),
                            password=os.environ.get("KILLBILL_DAO_PASSWORD"), connect_timeout=3)
    try:
        with conn, conn.cursor() as cur:
            method = request.get("method", "GET")
            if path == "/1.0/kb/tenants" and method == "GET":
                key = (query.get("apiKey") or [""])[0]
                cur.execute("SELECT id, external_key, api_key FROM tenants WHERE api_key = %s", (key,))
                row = cur.fetchone()
                if row is None:
                    return 404, {"causeType": None, "message": f"Tenant does not exist for api key {key}"}
                return 200, {"tenantId": row[0], "externalKey": row[1], "apiKey": row[2]}
            if path == "/1.0/kb/tenants" and method == "POST":
                if not headers.get("X-Killbill-CreatedBy"):
                    return 400, {"message": "X-Killbill-CreatedBy header is required"}
                body = json.loads(request.get("body") or b"{}")
                if not body.get("apiKey") or not body.get("apiSecret"):
                    return 400, {"message": "apiKey and apiSecret are required"}
                cur.execute("SELECT 1 FROM tenants WHERE api_key = %s", (body["apiKey"],))
                if cur.fetchone():
                    return 409, {"message": f"Tenant already exists for key {body['apiKey']}"}
                tenant_id, salt = str(uuid.uuid4()), uuid.uuid4().hex
                cur.execute("INSERT INTO tenants (id, external_key, api_key, api_secret) VALUES (%s, %s, %s, %s)",
                            (tenant_id, body.get("externalKey"), body["apiKey"],
                             f"{salt}${_secret_hash(body['apiSecret'], salt)}"))
                return 201, {}, {"Location": f"/1.0/kb/tenants/{tenant_id}"}
            if path == "/1.0/kb/security/permissions" and method == "GET":  # what Kaui's sign-in asks
                return 200, ["*"]
            if path == "/1.0/kb/accounts/pagination" and method == "GET":  # a call as a tenant
                cur.execute("SELECT api_secret FROM tenants WHERE api_key = %s", (headers.get("X-Killbill-ApiKey"),))
                row = cur.fetchone()
                salt, _, digest = (row[0] if row else "$").partition("$")
                if not row or _secret_hash(headers.get("X-Killbill-ApiSecret") or "", salt) != digest:
                    return 401, {"message": "Unable to authenticate the tenant"}
                return 200, {"accounts": []}
            return 404, {"message": "not found"}
    finally:
        conn.close()


# -- Kaui: its sign-in, tenant screens and tables (kill-bill.org, Kaui; killbill-admin-ui) -------

KAUI_SESSIONS: dict[str, dict] = {}  # the session cookie -> csrf token, user, selected tenant
KAUI_COOKIE = "_kaui_session"


def kaui_db():
    import psycopg2

    return psycopg2.connect(os.environ["KAUI_CONFIG_DAO_URL"][len("jdbc:"):], user=os.environ.get("KAUI_CONFIG_DAO_USER"),
                            password=os.environ.get("KAUI_CONFIG_DAO_PASSWORD"), connect_timeout=3)


def kaui_cipher():
    """Kaui keeps a tenant's API secret with the symmetric-encryption gem (AES-256-CBC, a fixed IV:
    `random_iv: false`; base64, the gem's "@EnC" header). The real one's key is in its image; this
    stand-in's is derived from SECRET_KEY_BASE."""
    import hashlib

    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    seed = os.environ["SECRET_KEY_BASE"].encode()
    key = hashlib.sha256(b"standin kaui key " + seed).digest()
    iv = hashlib.sha256(b"standin kaui iv " + seed).digest()[:16]
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def kaui_encrypt(text: str) -> str:
    import base64

    from cryptography.hazmat.primitives import padding

    padder = padding.PKCS7(128).padder()
    enc = kaui_cipher().encryptor()
    data = enc.update(padder.update(text.encode()) + padder.finalize()) + enc.finalize()
    return base64.b64encode(b"@EnC\x01\x00" + data).decode()


def kaui_decrypt(stored: str) -> str:
    import base64

    from cryptography.hazmat.primitives import padding

    raw = base64.b64decode(stored)
    if not raw.startswith(b"@EnC"):
        raise ValueError("not encrypted with Kaui's key")
    dec = kaui_cipher().decryptor()
    unpadder = padding.PKCS7(128).unpadder()
    plain = dec.update(raw[6:]) + dec.finalize()
    return (unpadder.update(plain) + unpadder.finalize()).decode()


def kill_bill(method: str, path: str, auth: tuple[str, str], headers: dict | None = None,
              body: dict | None = None) -> tuple[int, dict | list, dict]:
    """A call to Kill Bill (KAUI_KILLBILL_URL) as Kaui makes it: status, JSON answer, headers."""
    import base64
    import urllib.error

    token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    request = urllib.request.Request(os.environ["KAUI_KILLBILL_URL"].rstrip("/") + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Basic {token}", "Accept": "application/json",
                                              "Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}"), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        try:
            answer = json.loads(exc.read() or b"{}")
        except ValueError:
            answer = {}
        return exc.code, answer, dict(exc.headers)


def html_escape(text) -> str:
    import html

    return html.escape(str(text), quote=True)


def kaui_page(title: str, session: dict, body: str) -> str:
    import secrets

    session.setdefault("csrf", secrets.token_urlsafe(32))
    flash = session.pop("flash", "")
    who = f"<p>Signed in as {html_escape(session['user'])}</p>" if session.get("user") else ""
    tenant = f"<p>Tenant: <b>{html_escape(session['tenant_name'])}</b></p>" if session.get("tenant_name") else ""
    return (f"<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{html_escape(title)} - Kaui</title>"
            f"<meta name=\"csrf-token\" content=\"{session['csrf']}\">"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
            "td,th{border:1px solid #999;padding:.3em .6em}.standin{background:#fe9;padding:.5em}</style></head>"
            f"<body><p class=\"standin\">Kaui STAND-IN: {STANDIN}</p>{who}{tenant}"
            f"{'<p class=flash>' + html_escape(flash) + '</p>' if flash else ''}<h1>{html_escape(title)}</h1>"
            f"{body}</body></html>")


def kaui_form(session: dict, action: str, fields: str, button: str) -> str:
    return (f"<form action=\"{action}\" method=\"post\">"
            f"<input type=\"hidden\" name=\"authenticity_token\" value=\"{session['csrf']}\" autocomplete=\"off\" />"
            f"{fields}<button type=\"submit\">{html_escape(button)}</button></form>")


def kaui(path: str, query: dict, request: dict | None = None):
    """Kaui as its screens behave (killbill-admin-ui: sessions, tenants, admin_tenants): Devise's
    sign-in checks the user against Kill Bill (GET /1.0/kb/security/permissions) and Kaui's
    allowed users; every form carries Rails' authenticity_token (422 without it); the tenant
    screens read and write kaui_tenants, kaui_allowed_users and kaui_allowed_user_tenants in the
    real kaui database. Not mimicked: falling back to the KAUI_KILLBILL_API_KEY tenant when a user
    has none, so a user sees a tenant only through those tables."""
    import secrets

    request = request or {}
    method, headers = request.get("method", "GET"), request.get("headers") or {}
    if path == "/health":
        # Its DDL loaded, and the admin row that lets Kill Bill's admin in.
        err = check_postgres(os.environ["KAUI_CONFIG_DAO_URL"], os.environ.get("KAUI_CONFIG_DAO_USER"),
                             os.environ.get("KAUI_CONFIG_DAO_PASSWORD"),
                             "SELECT 1 FROM kaui_allowed_users WHERE kb_username = 'admin'")
        return (200, {"status": "UP"}) if err is None else (503, {"status": "DOWN", "error": err})
    cookies = dict(part.strip().split("=", 1) for part in (headers.get("Cookie") or "").split(";") if "=" in part)
    sid = cookies.get(KAUI_COOKIE, "")
    out: dict[str, str] = {}
    if sid not in KAUI_SESSIONS:
        sid = secrets.token_urlsafe(24)
        KAUI_SESSIONS[sid] = {}
        out["Set-Cookie"] = f"{KAUI_COOKIE}={sid}; path=/; HttpOnly; SameSite=Lax"
    session = KAUI_SESSIONS[sid]
    form = parse_qs((request.get("body") or b"").decode()) if method == "POST" else {}
    field = lambda name: (form.get(name) or [""])[0]  # noqa: E731

    def go(location: str, flash: str = ""):
        if flash:
            session["flash"] = flash
        return 302, {"location": location}, out

    if method == "POST" and (not session.get("csrf") or field("authenticity_token") != session["csrf"]):
        return 422, "<h1>ActionController::InvalidAuthenticityToken</h1>", out
    if path == "/users/sign_in" and method == "GET":
        fields = ("<label>Username <input type=\"text\" name=\"user[kb_username]\" id=\"user_kb_username\"></label> "
                  "<label>Password <input type=\"password\" name=\"user[password]\" id=\"user_password\"></label> ")
        session.setdefault("csrf", secrets.token_urlsafe(32))
        return 200, kaui_page("Log in to your account", session, kaui_form(session, "/users/sign_in", fields, "Log in")), out
    if path == "/users/sign_in" and method == "POST":
        user, password = field("user[kb_username]"), field("user[password]")
        status, _, _ = kill_bill("GET", "/1.0/kb/security/permissions", (user, password))
        with kaui_db() as conn, conn.cursor() as cur:
            cur.execute("SELECT 1 FROM kaui_allowed_users WHERE kb_username = %s", (user,))
            allowed = cur.fetchone() is not None
        if status != 200 or not allowed:
            return go("/users/sign_in", "Invalid Kb username or password.")
        session.clear()  # a new session on sign-in, as Devise does
        # Kaui's root user (KAUI_ROOT_USERNAME, admin) sees every tenant on the admin screens.
        session.update(user=user, auth=(user, password), root=user == os.environ.get("KAUI_ROOT_USERNAME", "admin"),
                       csrf=secrets.token_urlsafe(32))
        return go("/tenants", "Signed in successfully.")
    if not session.get("user"):
        return go("/users/sign_in", "You need to sign in or sign up before continuing.")
    with kaui_db() as conn, conn.cursor() as cur:
        return kaui_signed_in(path, method, field, session, cur, go, out)


def kaui_signed_in(path, method, field, session, cur, go, out):
    """The screens behind the sign-in."""
    import re

    user = session["user"]
    cur.execute("SELECT t.id, t.name, t.kb_tenant_id, t.api_key FROM kaui_tenants t "
                "JOIN kaui_allowed_user_tenants l ON l.kaui_tenant_id = t.id "
                "JOIN kaui_allowed_users u ON u.id = l.kaui_allowed_user_id WHERE u.kb_username = %s ORDER BY t.id", (user,))
    mine = cur.fetchall()

    def select(row):
        session.update(tenant_id=row[0], tenant_name=row[1], kb_tenant_id=row[2])
        return go("/")

    if path == "/tenants" and method == "GET":
        if not mine:
            return go("/admin_tenants/new")
        if len(mine) == 1:  # the choice is obvious: Kaui skips the screen
            return select(mine[0])
        rows = "".join(f"<li>{kaui_form(session, '/tenants/select_tenant', f'<input type=hidden name=kb_tenant_id value={html_escape(r[2])}>', r[1])}</li>"
                       for r in mine)
        return 200, kaui_page("Select a tenant", session, f"<ul>{rows}</ul>"), out
    if path == "/tenants/select_tenant" and method == "POST":
        chosen = [r for r in mine if r[2] == field("kb_tenant_id")]
        return select(chosen[0]) if chosen else (404, "<h1>Not found</h1>", out)
    if path == "/" and method == "GET":
        if not session.get("tenant_id"):
            return go("/tenants")
        cur.execute("SELECT api_key, encrypted_api_secret FROM kaui_tenants WHERE id = %s", (session["tenant_id"],))
        api_key, stored = cur.fetchone()
        status, answer, _ = kill_bill("GET", "/1.0/kb/accounts/pagination", session["auth"],
                                      {"X-Killbill-ApiKey": api_key, "X-Killbill-ApiSecret": kaui_decrypt(stored)})
        count = len(answer) if isinstance(answer, list) else len(answer.get("accounts", []))
        said = (f"Kill Bill accepts this tenant's API key and secret: {count} accounts"
                if status == 200 else f"Kill Bill refused this tenant's API key and secret ({status})")
        return 200, kaui_page("Accounts", session, f"<p id=\"kill-bill\">{html_escape(said)}</p>"), out
    if path == "/admin_tenants" and method == "GET":
        if session["root"]:
            cur.execute("SELECT id, name, kb_tenant_id, api_key FROM kaui_tenants ORDER BY id")
            mine = cur.fetchall()
        rows = "".join(f"<tr><td><a href=\"/admin_tenants/{r[0]}\">{html_escape(r[1])}</a></td>"
                       f"<td>{html_escape(r[2])}</td><td>{html_escape(r[3])}</td></tr>" for r in mine)
        table = (f"<table id=\"tenants-table\"><thead><tr><th>Name</th><th>Tenant Id</th><th>Api Key</th></tr></thead>"
                 f"<tbody>{rows}</tbody></table>")
        return 200, kaui_page("Tenants", session, table), out
    if path == "/admin_tenants/new" and method == "GET":
        fields = "".join(f"<label>{label} <input type=\"{kind}\" name=\"tenant[{name}]\" id=\"tenant_{name}\" required></label> "
                         for label, kind, name in (("Name", "text", "name"), ("API Key", "text", "api_key"),
                                                   ("API Secret", "password", "api_secret")))
        return 200, kaui_page("Add a tenant", session, kaui_form(session, "/admin_tenants", fields, "Save Tenant")), out
    if path == "/admin_tenants" and method == "POST":
        return kaui_create_tenant(field, session, cur, go, user)
    shown = re.fullmatch(r"/admin_tenants/(\d+)", path)
    if shown and method == "GET":
        cur.execute("SELECT name, kb_tenant_id, api_key FROM kaui_tenants WHERE id = %s", (int(shown.group(1)),))
        row = cur.fetchone()
        if row is None:
            return 404, "<h1>Not found</h1>", out
        cur.execute("SELECT u.kb_username FROM kaui_allowed_users u JOIN kaui_allowed_user_tenants l "
                    "ON l.kaui_allowed_user_id = u.id WHERE l.kaui_tenant_id = %s ORDER BY 1", (int(shown.group(1)),))
        users = ", ".join(html_escape(u) for (u,) in cur.fetchall())
        body = (f"<dl><dt>Name</dt><dd>{html_escape(row[0])}</dd><dt>Tenant Id</dt><dd>{html_escape(row[1])}</dd>"
                f"<dt>Api Key</dt><dd>{html_escape(row[2])}</dd><dt>Allowed users</dt><dd>{users}</dd></dl>")
        return 200, kaui_page(f"Tenant {row[0]}", session, body), out
    return 404, "<h1>Not found</h1>", out


def kaui_create_tenant(field, session, cur, go, user):
    """AdminTenantsController#create: a tenant Kaui knows by name or key gets the user added
    (a second add fails on the unique link, as in Kaui); otherwise Kill Bill's tenant is looked up
    by its key, created when Kill Bill has none, and recorded with its secret encrypted."""
    name, key, secret = field("tenant[name]"), field("tenant[api_key]"), field("tenant[api_secret]")
    cur.execute("INSERT INTO kaui_allowed_users (kb_username, created_at, updated_at) VALUES (%s, now(), now()) "
                "ON CONFLICT (kb_username) DO NOTHING", (user,))
    cur.execute("SELECT id FROM kaui_allowed_users WHERE kb_username = %s", (user,))
    (user_id,) = cur.fetchone()
    cur.execute("SELECT id FROM kaui_tenants WHERE name = %s OR api_key = %s ORDER BY id LIMIT 1", (name, key))
    old = cur.fetchone()
    if old is None:
        as_tenant = {"X-Killbill-ApiKey": key, "X-Killbill-ApiSecret": secret}
        status, answer, _ = kill_bill("GET", f"/1.0/kb/tenants?apiKey={key}", session["auth"], as_tenant)
        if status in (401, 404):
            status, answer, _ = kill_bill("POST", "/1.0/kb/tenants", session["auth"], {"X-Killbill-CreatedBy": user},
                                          {"apiKey": key, "apiSecret": secret, "externalKey": name})
            if status == 409:
                return go("/admin_tenants", f"Submitted credentials for {key} did not match the expected credentials.")
            status, answer, _ = kill_bill("GET", f"/1.0/kb/tenants?apiKey={key}", session["auth"], as_tenant)
        if status != 200:
            return go("/admin_tenants", f"Failed to create the tenant: Kill Bill answered {status}")
        cur.execute("INSERT INTO kaui_tenants (name, kb_tenant_id, api_key, encrypted_api_secret, created_at, updated_at) "
                    "VALUES (%s, %s, %s, %s, now(), now()) RETURNING id", (name, answer["tenantId"], key, kaui_encrypt(secret)))
        old = cur.fetchone()
    # Kaui appends the link unconditionally: a second one breaks the unique index (a 500 there).
    cur.execute("INSERT INTO kaui_allowed_user_tenants (kaui_allowed_user_id, kaui_tenant_id, created_at, updated_at) "
                "VALUES (%s, %s, now(), now())", (user_id, old[0]))
    cur.execute("SELECT id, name, kb_tenant_id FROM kaui_tenants WHERE id = %s", (old[0],))
    row = cur.fetchone()
    session.update(tenant_id=row[0], tenant_name=row[1], kb_tenant_id=row[2])
    return go(f"/admin_tenants/{row[0]}", "Tenant was successfully configured")


def condo(path: str, query: dict) -> tuple[int, dict]:
    if path != "/server-health":
        return 404, {"error": "not found"}
    wanted = (query.get("checks") or [""])[0].split(",")
    probes = {"postgres": lambda: check_postgres(os.environ["DATABASE_URL"]),
              "redis": lambda: check_redis(os.environ["REDIS_URL"])}
    results = {name: probes[name]() for name in wanted if name in probes}
    ok = all(err is None for err in results.values())
    return (200 if ok else 500), {
        "statusText": "pass" if ok else "fail",
        "checks": {name: {"status": "pass" if err is None else "fail", "error": err}
                   for name, err in results.items()}}


def cocorico(path: str, query: dict) -> tuple[int, dict]:
    if path == "/":
        return 302, {"location": "/en/"}
    if path != "/en/":
        return 404, {"error": "not found"}
    env = os.environ
    errors = {"mysql": check_mysql(env["DATABASE_HOST"], int(env["DATABASE_PORT"]), env["DATABASE_USER"],
                                   env["DATABASE_PASSWORD"], env["DATABASE_NAME"]),
              "mongodb": check_mongodb(env["MONGODB_SERVER"])}
    ok = all(e is None for e in errors.values())
    return (200 if ok else 500), {"page": "Cocorico stand-in home (en)", "errors": errors}


# -- release tasks (`standin task NAME`): what the real apps' migrations do, on the real databases --

def task(name: str) -> int:
    """A release task of a stand-in app, run like the real one (a one-off container with the
    service's environment): 0 when done, non-zero with the reason on stderr."""
    env = os.environ
    say = f"[{name} stand-in task]"
    if name == "killbill-ddl-check":  # Kill Bill never creates its tables: check they are there
        err = check_postgres(env["KILLBILL_DAO_URL"], env.get("KILLBILL_DAO_USER"), env.get("KILLBILL_DAO_PASSWORD"),
                             "SELECT count(*) FROM tenants, accounts, invoices, users, sessions")
        print(f"{say} {'DDL present' if err is None else 'DDL missing: ' + err}", file=sys.stdout if err is None else sys.stderr)
        return 0 if err is None else 1
    if name == "condo-migrate":  # a migration recorded in the app's own database, once
        import psycopg2

        conn = psycopg2.connect(env["DATABASE_URL"], connect_timeout=5)
        with conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS standin_migrations (name text PRIMARY KEY, "
                        "applied_at timestamptz NOT NULL DEFAULT now())")
            cur.execute("INSERT INTO standin_migrations (name) VALUES ('0001_initial') ON CONFLICT DO NOTHING")
            print(f"{say} migrations: {'applied 0001_initial' if cur.rowcount else 'nothing to apply'}")
        conn.close()
        return 0
    if name == "cocorico-schema-update":
        import pymysql

        conn = pymysql.connect(host=env["DATABASE_HOST"], port=int(env["DATABASE_PORT"]), user=env["DATABASE_USER"],
                               password=env["DATABASE_PASSWORD"], database=env["DATABASE_NAME"], connect_timeout=5)
        with conn.cursor() as cur:
            cur.execute("CREATE TABLE IF NOT EXISTS standin_schema (version int PRIMARY KEY)")
            cur.execute("INSERT IGNORE INTO standin_schema (version) VALUES (1)")
        conn.commit()
        conn.close()
        print(f"{say} schema up to date")
        return 0
    if name == "fail":  # what a broken migration looks like (tests)
        print(f"{say} migrating...\n{say} ERROR: relation \"units\" already exists", file=sys.stderr)
        return 3
    print(f"{say} unknown task", file=sys.stderr)
    return 2


APPS = {"killbill": (killbill, 8080), "kaui": (kaui, 8080), "condo": (condo, 3000),
        "cocorico": (cocorico, 80)}


def serve_http(app, port: int, name: str, address: str = "0.0.0.0") -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            self.answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self.answer("POST")

        def answer(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            request = {"method": method, "headers": self.headers, "body": self.rfile.read(length)}
            try:
                if app in (killbill, kaui):  # the stand-ins with more than a health route
                    status, body, *extra = app(parts.path, parse_qs(parts.query), request)
                elif method == "GET":
                    status, body, *extra = app(parts.path, parse_qs(parts.query))
                else:
                    status, body, extra = 405, {"error": "method not allowed"}, []
            except Exception as exc:  # noqa: BLE001 - what an app's unhandled error looks like: a 500
                status, body, extra = 500, {"error": f"{type(exc).__name__}: {exc}".strip()}, []
            headers = dict(extra[0]) if extra else {}
            if status in (301, 302):
                headers["Location"] = body["location"]
            if isinstance(body, str):  # a page
                data, kind = body.encode(), "text/html; charset=utf-8"
            else:
                if isinstance(body, dict):
                    # What the edge passed on about the client, for the tests to see.
                    forwarded = {"for": self.headers.get("X-Forwarded-For"), "proto": self.headers.get("X-Forwarded-Proto")}
                    body = {"standin": f"{name} {STANDIN}", **body, "forwarded": forwarded}
                data, kind = json.dumps(body).encode(), "application/json"
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", kind)
            self.send_header("X-Standin", name)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, fmt: str, *args) -> None:
            sys.stderr.write(f"[{name} stand-in] {fmt % args}\n")

    print(f"[{name} stand-in] listening on :{port} ({STANDIN})", flush=True)
    serve_until_stopped(ThreadingHTTPServer((address, port), Handler))


def serve_until_stopped(server: ThreadingHTTPServer) -> None:
    """Serve until `docker stop`'s SIGTERM, then stop as the real servers do (Tomcat's
    connector, Node's server.close, PHP-FPM): no new connection is taken (a client's next
    address is tried), the requests in flight are answered."""
    server.daemon_threads = False  # server_close waits for the requests in flight
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    stop.wait()
    server.shutdown()
    server.server_close()


# -- cloudflared ------------------------------------------------------------------------------

def flag(args: list[str], name: str, default: str | None = None) -> str | None:
    return args[args.index(name) + 1] if name in args else default


def load_ingress(config_path: str) -> tuple[dict, list[str]]:
    """config.yml and what cloudflared's own validation would refuse in it."""
    import yaml

    with open(config_path) as fh:
        config = yaml.safe_load(fh) or {}
    ingress = config.get("ingress") or []
    problems = []
    if not config.get("tunnel"):
        problems.append("no tunnel")
    if not ingress or set(ingress[-1]) - {"service", "originRequest"}:
        problems.append("the last ingress rule must be a catch-all")
    for i, rule in enumerate(ingress[:-1]):
        if not set(rule) - {"service", "originRequest"}:
            problems.append(f"rule {i + 1} is a catch-all but is not the last rule")
        if not rule.get("service"):
            problems.append(f"rule {i + 1} has no service")
    return config, problems


def cloudflared(args: list[str]) -> int:
    metrics = flag(args, "--metrics", "127.0.0.1:2000")
    if args and args[-1] == "ready":
        try:
            with urllib.request.urlopen(f"http://{metrics}/ready", timeout=3) as resp:
                return 0 if resp.status == 200 else 1
        except OSError:
            return 1
    config_path = flag(args, "--config")
    if args[-2:] == ["ingress", "validate"]:
        _, problems = load_ingress(config_path or "/etc/cloudflared/config.yml")
        if problems:
            print(f"[cloudflared stand-in] validation failed: {'; '.join(problems)}", file=sys.stderr)
            return 1
        print("[cloudflared stand-in] OK")
        return 0
    if config_path is None and os.environ.get("TUNNEL_TOKEN"):
        # Remotely managed: the ingress lives at Cloudflare; the stand-in never dials out.
        ingress, mode = [], "remotely managed (token; ingress kept at Cloudflare)"
    else:
        config, problems = load_ingress(config_path or "/etc/cloudflared/config.yml")
        if problems:
            print(f"[cloudflared stand-in] invalid config {config_path}: {'; '.join(problems)}",
                  file=sys.stderr)
            return 1
        ingress, mode = config["ingress"], f"tunnel {config['tunnel']}, locally managed"
    origins = sorted({r["service"] for r in ingress if r["service"].startswith(("http://", "https://"))})

    def ready(path: str, query: dict) -> tuple[int, dict]:
        if path != "/ready":
            return 404, {"error": "not found"}
        # Like cloudflared's own /ready, not about the origins (a real one is ready once it holds
        # an edge connection; this one, once its config loaded); unreachable ones are listed.
        down = [o for o in origins if not reachable(o)]
        body = {"status": 200, "readyConnections": 0, "rules": len(ingress),
                "note": "stand-in never connects to Cloudflare; ready = config loaded",
                "unreachable": down}
        return body["status"], body

    host, _, port = metrics.rpartition(":")
    print(f"[cloudflared stand-in] {mode}: {len(ingress)} ingress rules loaded", flush=True)
    serve_http(ready, int(port), "cloudflared", host or "0.0.0.0")
    return 0


def reachable(url: str) -> bool:
    parts = urlsplit(url)
    try:
        socket.create_connection((parts.hostname, parts.port or 80), timeout=2).close()
        return True
    except OSError:
        return False


def main(argv: list[str]) -> int:
    prog = os.path.basename(argv[0])
    if prog == "cloudflared":
        return cloudflared(argv[1:])
    if prog == "standin-probe":
        kind, address = argv[1], argv[2]
        host, _, port = address.rpartition(":")
        return 0 if kind == "mongodb" and check_mongodb(f"mongodb://{host}:{port}") is None else 1
    app = argv[1] if len(argv) > 1 else ""
    if app == "task" and len(argv) == 3:
        return task(argv[2])
    if app == "mongodb":
        print(f"[mongodb stand-in] listening on :27017 ({STANDIN})", flush=True)
        socketserver.ThreadingTCPServer.allow_reuse_address = True
        socketserver.ThreadingTCPServer(("0.0.0.0", 27017), MongoHandler).serve_forever()
    if app not in APPS:
        print(f"usage: standin {{{','.join([*APPS, 'mongodb'])}}}", file=sys.stderr)
        return 2
    handler, port = APPS[app]
    serve_http(handler, int(os.environ.get("PORT", port)), app)
    return 0


if __name__ == "__main__":
    # PID 1 in its container: SIGTERM (docker stop) must end it, not wait for SIGKILL.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    sys.exit(main(sys.argv))
