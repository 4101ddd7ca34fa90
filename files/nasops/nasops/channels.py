"""The alert channels: each webhook of `alerts.webhooks` (generic JSON, Slack, ntfy), e-mail
through the relay, and DSM's own notification. A channel that fails is logged
(logs/monitor/alerts.log) and never stops the others; its URL or password is read from its
secret file and appears in no log line, argument or output."""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path

from nasops import alerts, clock

WEBHOOK_TIMEOUT_S = 15
SMTP_TIMEOUT_S = 30


class AlertLog:
    def __init__(self, path: Path, now=clock.now):
        self.path, self.now = path, now

    def __call__(self, line: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as f:
            f.write(f"{clock.iso(self.now())} {line}\n")


def payload(shape: str, url: str, stack, note) -> tuple[str, dict]:
    """(where to POST, the JSON) for a webhook of this shape."""
    if shape == "slack":
        return url, {"text": f"*{note.title}*\n{note.body}"}
    if shape == "ntfy":  # ntfy's JSON publishing: to the server's root, the topic in the body
        root, _, topic = url.rstrip("\n").rpartition("/")
        return root + "/", {"topic": topic, "title": note.title, "message": note.body,
                            "priority": 3 if note.status == "recovered" else 4, "tags": [note.status]}
    return url, {"project": stack.project, "target": stack.target, "status": note.status, "title": note.title,
                 "message": note.body, "at": clock.iso(clock.now())}


def post_json(url: str, body: dict) -> None:
    request = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_S) as reply:
        reply.read()


def _secret(path: Path) -> str:
    text = path.read_text().splitlines()
    return text[0].strip() if text else ""


def _reason(e: Exception) -> str:
    """Why a channel failed, without its URL (which is a secret)."""
    if isinstance(e, urllib.error.HTTPError):
        return f"HTTP {e.code}"
    if isinstance(e, urllib.error.URLError):
        return f"no answer: {type(e.reason).__name__}"
    return type(e).__name__


def send_webhooks(stack, note, log, post=post_json) -> None:
    for hook in stack.alerts["webhooks"]:
        name, url_file = hook["name"], stack.file(hook["url_file"])
        try:
            url = _secret(url_file)
        except OSError:
            url = ""
        if not url:
            log(f"channel {name} FAILED: its URL ({hook['url_file']}) is missing")
            continue
        try:
            post(*payload(hook["shape"], url, stack, note))
            log(f"sent to {name}")
        except Exception as e:  # noqa: BLE001 - a channel never stops the others
            log(f"channel {name} FAILED ({_reason(e)})")


def send_email(stack, note, log, smtp=smtplib.SMTP) -> None:
    mail = stack.alerts["email"]
    if not mail:
        return
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = mail["from"], ", ".join(mail["to"]), note.title
    msg["Date"] = formatdate(usegmt=True)
    msg.set_content(note.body)
    try:
        with smtp(mail["relay"], mail["port"], timeout=SMTP_TIMEOUT_S) as relay:
            if mail["starttls"]:
                relay.starttls()
            if mail["user"]:
                relay.login(mail["user"], _secret(stack.file(mail["password_file"])))
            relay.send_message(msg)
        log("sent to email")
    except Exception as e:  # noqa: BLE001
        log(f"channel email FAILED ({_reason(e)})")


def queue_dsm(stack, note, outbox: Path) -> None:
    """DSM's desktop notification is DSM's own program, outside this container: the note waits
    in the outbox for scripts/ops.sh to hand it to synodsmnotify (the title file last: it marks
    a note complete)."""
    if not stack.alerts["dsm_notify"]:
        return
    outbox.mkdir(parents=True, exist_ok=True)
    n = 1 + max((int(p.stem) for p in outbox.glob("*.title") if p.stem.isdigit()), default=0)
    (outbox / f"{n}.body").write_text(note.body)
    (outbox / f"{n}.title").write_text(note.title)


def notify(stack, note, log, outbox: Path, post=post_json, smtp=smtplib.SMTP) -> None:
    log(f"alert: {note.title}")
    send_webhooks(stack, note, log, post)
    send_email(stack, note, log, smtp)
    queue_dsm(stack, note, outbox)


def send_event(stack, title: str, body: str, post=post_json, smtp=smtplib.SMTP) -> None:
    """An event (a failed backup, say) to every channel now, logged to the monitor's alert log."""
    folder = stack.path("monitor")
    folder.mkdir(parents=True, exist_ok=True)
    notify(stack, alerts.event(stack.project, title, body), AlertLog(folder / "alerts.log"), folder / "dsm-outbox",
           post, smtp)
