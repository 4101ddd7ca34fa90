#!/usr/bin/env bash
# Build the local targets' base images without a registry:
#   marketplace-local/debian:bookworm  debootstrap minbase, imported with `docker import`
#   marketplace-local/base:bookworm    files/images/base (Debian packages the local images use)
# Every service image is then built by the deploy itself from its build context (group_data).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
images=$(cd "$here/../images" && pwd)
log() { printf '[images] %s\n' "$*"; }
have() { docker image inspect "$1" >/dev/null 2>&1; }

if have marketplace-local/debian:bookworm; then
  log "marketplace-local/debian:bookworm present"
else
  rootfs=$(mktemp -d /var/tmp/marketplace-rootfs.XXXXXX)
  trap 'rm -rf "$rootfs"' EXIT
  log "debootstrap bookworm (about 35 s)"
  debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
  tar -C "$rootfs" -c . | docker import - marketplace-local/debian:bookworm >/dev/null
  log "imported marketplace-local/debian:bookworm"
fi

base_hash=$(sha256sum "$images/base/Dockerfile" | cut -c1-12)
if [ "$(docker image inspect -f '{{index .Config.Labels "marketplace.base-hash"}}' marketplace-local/base:bookworm 2>/dev/null)" = "$base_hash" ]; then
  log "marketplace-local/base:bookworm present"
else
  log "building marketplace-local/base:bookworm"
  docker build -q --label "marketplace.base-hash=$base_hash" -t marketplace-local/base:bookworm "$images/base" >/dev/null
  log "built marketplace-local/base:bookworm"
fi
