#!/bin/bash
# DSM STAND-IN entrypoint: what a booting NAS does that the deploy can notice, then sshd.
set -euo pipefail
echo "[DSM stand-in] booting (a Debian container playing the NAS for the marketplace tests; not DSM)"
# DSM resets the engine's socket to root:root 0660 at boot (no docker group).
if [ -S /var/run/docker.sock ]; then
  chown root:root /var/run/docker.sock
  chmod 0660 /var/run/docker.sock
fi
mkdir -p /volume1/@tmp /volume1/homes /volume1/photo
chmod 1777 /volume1/@tmp
# sudo for the administrator: DSM_STANDIN_SUDO=password (DSM's own rule) or nopasswd.
mode=${DSM_STANDIN_SUDO:-password}
{
  echo 'Defaults secure_path="/sbin:/bin:/usr/sbin:/usr/bin"'
  if [ "$mode" = nopasswd ]; then echo '%administrators ALL=(ALL) NOPASSWD: ALL'
  else echo '%administrators ALL=(ALL) ALL'; fi
} > /etc/sudoers.d/administrators
chmod 0440 /etc/sudoers.d/administrators
if [ -s /etc/ssh/authorized/deploy.password ]; then
  printf 'deploy:%s\n' "$(cat /etc/ssh/authorized/deploy.password)" | chpasswd
fi
echo "[DSM stand-in] sudo for administrators: $mode"
/usr/syno/bin/dsm-standin scheduler >>/var/log/dsm-standin-scheduler.log 2>&1 &
/usr/syno/bin/dsm-standin boot &
exec /usr/sbin/sshd -D -e -p "${DSM_STANDIN_SSH_PORT:-2223}"
