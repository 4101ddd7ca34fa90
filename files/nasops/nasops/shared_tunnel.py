"""`nasops shared-tunnel` (scripts/shared_tunnel.sh, tunnel.mode "shared"): installs
tunnel/shared-config.yml -- the other site's config.yml with our managed block, merged by the
deploy, every foreign rule kept byte for byte -- as that site's config file: validated by the
tunnel's own image (`cloudflared tunnel ingress validate`), the previous file backed up, the
tunnel restarted, and the previous file put back (and the tunnel restarted again) if it does not
report ready within its timeout. Does nothing when the file is already in place."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from nasops import clock
from nasops.probe import Prober


def install(source: bytes, target: Path, temp_suffix: str) -> None:
    """Replace target's content atomically, keeping its owner and mode."""
    st = target.stat()
    part = target.with_name(target.name + temp_suffix)
    shutil.copy2(target, part)
    os.chown(part, st.st_uid, st.st_gid)
    part.write_bytes(source)
    os.replace(part, target)


def ready(prober, url: str, timeout_s: int, sleep=time.sleep) -> bool:
    for _ in range(max(1, timeout_s)):
        if 200 <= prober.ready(url) < 400:
            return True
        sleep(1)
    return False


def run(stack, client, out, err, prober=None, sleep=time.sleep, now=clock.now) -> int:
    spec = stack.tunnel
    new = stack.file(spec["rendered_file"])
    cfg = Path(spec["config_file"])
    if cfg.is_file() and new.read_bytes() == cfg.read_bytes():
        out.write(f"shared tunnel: {cfg} already holds the managed block as rendered\n")
        return 0
    container = client.containers.get(spec["container"])
    try:
        client.containers.run(container.attrs["Config"]["Image"], ["tunnel", "--config", "/tmp/validate.yml",
                              "ingress", "validate"], entrypoint="cloudflared", network_mode="none", remove=True,
                              volumes={str(new): {"bind": "/tmp/validate.yml", "mode": "ro"}}, stdout=False, stderr=True)
    except Exception as e:  # noqa: BLE001 - docker.errors.ContainerError: its own cloudflared refuses it
        err.write(f"shared tunnel: {spec['container']}'s cloudflared refuses the merged file ({e}); "
                  f"{cfg} is untouched\n")
        return 1
    backups = stack.file(spec["backup_dir"])
    backups.mkdir(parents=True, exist_ok=True)
    backup = backups / f"config.yml.{time.strftime('%Y%m%dT%H%M%S', time.gmtime(now()))}"
    shutil.copy2(cfg, backup)
    prober = prober or Prober(stack.edge_url)
    install(new.read_bytes(), cfg, stack.paths["temp_suffix"])
    container.restart()
    if ready(prober, spec["ready_url"], spec["ready_timeout_s"], sleep):
        out.write(f"shared tunnel: {spec['container']} ready with the managed block (previous file: {backup})\n")
        return 0
    err.write(f"shared tunnel: {spec['container']} not ready within {spec['ready_timeout_s']} s: restoring {backup}\n")
    install(backup.read_bytes(), cfg, stack.paths["temp_suffix"])
    container.restart()
    if ready(prober, spec["ready_url"], spec["ready_timeout_s"], sleep):
        err.write(f"shared tunnel: previous file restored, {spec['container']} ready\n")
    else:
        err.write(f"shared tunnel: previous file restored, {spec['container']} STILL NOT READY\n")
    return 1
