"""What a service's own process has in its environment besides its spec's, for a command run
inside its container (`docker exec`: a backup's tools, a sync job).

On Compose the container's environment holds the service's secret env (its env_file), and an
exec inherits it. On a swarm the secret env reaches the process only (files/swarm/with-env.sh
exports the Swarm secret's lines, then runs the image's entrypoint), so an exec would start
without it: this reads the same secret env file, literally, as with-env.sh does."""

from __future__ import annotations


def parse(text: str) -> dict[str, str]:
    """A secret env file's NAME=VALUE lines, literally (as files/swarm/with-env.sh reads them:
    nothing expanded, a line that is not NAME=VALUE skipped)."""
    found = {}
    for line in text.splitlines():
        name, eq, value = line.partition("=")
        if eq and name and (name[0].isalpha() or name[0] == "_") and name.replace("_", "a").isalnum():
            found[name] = value
    return found


def exec_env(stack, service: str) -> dict[str, str]:
    """The environment an exec into `service`'s container needs to be given ({} on Compose,
    and for a service without secret env)."""
    if stack.engine != "swarm":
        return {}
    for spec in stack.swarm["secret_env"]:
        if spec["service"] == service:
            return parse(stack.file(spec["file"]).read_text())
    return {}
