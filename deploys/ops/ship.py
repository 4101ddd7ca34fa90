"""`make ship IMAGE=name:tag [TARGET=...]`: a locally built image onto the target, without a
registry, over the deploy's own SSH connection (inventory.py: user, key, sudo).

`docker save` is gzipped and streamed into `docker load` on the target, as root: no temporary
file on either side. Skipped when the target already has the image ID; the ID is checked after
loading; an image built for another CPU architecture than the target's is refused before
anything is sent. The local Docker is the one the `docker` CLI reaches (DOCKER_HOST, if set).
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time

# `uname -m` -> Docker's architecture names (a NAS is amd64 or arm64).
ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
CHUNK = 1 << 20


def local_image(image: str) -> tuple[str, str] | None:
    """(image ID, architecture) of IMAGE on this machine, None when it has none."""
    found = subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}} {{.Architecture}}", image],
                           capture_output=True, text=True)
    return tuple(found.stdout.split()) if found.returncode == 0 else None  # type: ignore[return-value]


def remote_image(target, image: str) -> tuple[str, str]:
    """(`uname -m`, image ID or "") on the target."""
    docker = shlex.quote(target.catalog.docker_bin)
    rc, out, err = target.shell(f"uname -m; {docker} image inspect -f '{{{{.Id}}}}' {shlex.quote(image)} 2>/dev/null || true")
    if rc != 0 or not out:
        raise SystemExit(f"ship: could not read the target's Docker: {' '.join(err)[-300:]}")
    return out[0].strip(), (out[1].strip() if len(out) > 1 else "")


def stream(target, image: str) -> tuple[int, int, str]:
    """docker save | gzip into `gunzip | docker load` on the target: (exit status, bytes sent, output)."""
    from deploys.target.access import Become

    become = Become.of(target.host.data)
    load = f"gunzip | {shlex.quote(target.catalog.docker_bin)} load"
    command = (f"sudo -S -p '' -H -- sh -c {shlex.quote(load)}" if become.sudo else f"sh -c {shlex.quote(load)}")
    channel = target.host.connector.client.get_transport().open_session()
    channel.exec_command(command)
    if become.sudo and become.password:
        channel.sendall((become.password + "\n").encode())  # sudo -S reads its line, then the image follows
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    gzip = subprocess.Popen(["gzip", "-1"], stdin=save.stdout, stdout=subprocess.PIPE)
    save.stdout.close()
    sent = 0
    try:
        while chunk := gzip.stdout.read(CHUNK):
            channel.sendall(chunk)
            sent += len(chunk)
    except OSError as exc:  # the target closed the stream (a refused sudo, a full disk)
        print(f"ship: the target stopped reading: {exc}", file=sys.stderr)
    finally:
        channel.shutdown_write()
    out = channel.makefile("r").read().decode(errors="replace")
    err = channel.makefile_stderr("r").read().decode(errors="replace")
    status = channel.recv_exit_status()
    if save.wait() != 0 or gzip.wait() != 0:
        status = status or 1
        err += "\nship: docker save | gzip failed on this machine"
    return status, sent, (out + err).strip()


def ship(target_name: str, image: str) -> int:
    from deploys.ops.remote import Target

    found = local_image(image)
    if found is None:
        print(f"ship: this machine has no image {image} (docker images; build it first)", file=sys.stderr)
        return 2
    image_id, arch = found
    target = Target(target_name)
    machine, remote_id = remote_image(target, image)
    nas = ARCHITECTURES.get(machine, machine)
    if arch != nas:
        print(f"ship: {image} is built for {arch}, the target {target_name} is {nas} ({machine}): build it "
              f"for the target (docker build --platform linux/{nas} ...) and ship that", file=sys.stderr)
        return 1
    if remote_id == image_id:
        print(f"ship: {image} ({image_id[:19]}) is already on {target_name}: skipped")
        return 0
    started = time.monotonic()
    status, sent, output = stream(target, image)
    if status != 0:
        from deploys.target.access import Become

        why = Become.of(target.host.data).explain(output.splitlines()) or output[-1500:]
        print(f"ship: loading {image} on {target_name} failed: {why}", file=sys.stderr)
        return 1
    _, loaded = remote_image(target, image)
    if loaded != image_id:
        print(f"ship: {image} on {target_name} is {loaded or 'missing'} after loading, not {image_id}", file=sys.stderr)
        return 1
    print(f"ship: {image} ({image_id[:19]}, {arch}) loaded on {target_name} and verified: "
          f"{sent / (1 << 20):.1f} MiB sent in {time.monotonic() - started:.1f} s")
    return 0
