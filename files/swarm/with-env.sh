#!/bin/sh
# The entrypoint of a Swarm service with secret env (deploys/render/swarm.py): exports every NAME=VALUE
# line of the Swarm secret /run/secrets/env literally (nothing in a value is expanded or run),
# then runs the image's own entrypoint and command, given as arguments. POSIX sh: the images'
# /bin/sh is dash or busybox.
while IFS= read -r line || [ -n "$line" ]; do
  case "$line" in
    [A-Za-z_]*=*) export "${line%%=*}=${line#*=}" ;;
  esac
done < /run/secrets/env
exec "$@"
