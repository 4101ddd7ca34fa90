"""StackState: the one pyinfra fact of the deploy. Its command (templates/commands/state.sh.j2)
reads everything the plan needs in ONE remote command; deploys/target/state.py parses the output.
Read-only: facts never change the target."""

from __future__ import annotations

from pyinfra.api import FactBase

from deploys.target.state import TargetState, parse_state


class StackState(FactBase):
    """The deploy's view of a target; one remote command."""

    def command(self, script: str) -> str:
        """`script` is deploys.render.state_command's (facts are cached by their arguments)."""
        return script

    def process(self, output: list[str]) -> TargetState:
        return parse_state(output)
