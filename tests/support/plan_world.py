"""The plan's data fixtures (tests/fixtures/plan/): a small world written by hand, turned into
the plan's inputs. Only this file translates: the desired state into plan.Desired, the target's
state into the lines the state command prints (each file's sha256 computed with hashlib here),
which the real parser then reads."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

from deploys import layout
from deploys.layout import ManagedFile
from deploys.plan import Desired, Probe

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "plan"


def merge(base, over):
    """`over` deep-merged into a copy of `base`; a None value deletes the key."""
    result = copy.deepcopy(base)
    for key, value in over.items():
        if value is None:
            result.pop(key, None)
        elif isinstance(value, dict) and isinstance(result.get(key), dict):
            result[key] = merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result


def case(path: Path) -> dict:
    """A fixture merged over the shared world (_world.json)."""
    world = json.loads((FIXTURES / "_world.json").read_text())
    fixture = json.loads(path.read_text())
    return {**fixture, "desired": merge(world["desired"], fixture.get("desired", {})),
            "state": merge(world["state"], fixture.get("state", {}))}


def desired(spec: dict) -> Desired:
    groups = {group: tuple(ManagedFile(p, text.encode(), int(mode, 8)) for p, (text, mode) in files.items())
              for group, files in spec["files"].items()}
    merged = spec.get("shared_merged")
    return Desired(
        root=spec["root"], owner=spec["owner"], dirs=tuple(spec["dirs"]), groups=groups,
        containers={n: tuple(v) for n, v in spec["containers"].items()},
        probes={n: Probe(*v) for n, v in spec["probes"].items()},
        secrets=tuple(spec["secrets"]), secrets_sha=sha(spec["secrets_section"]), servers=spec["servers"],
        users={n: tuple(v) for n, v in spec["users"].items()}, ddl=spec["ddl"],
        shared_config_file=spec.get("shared_config_file"),
        merge_shared=(lambda current: merged) if merged is not None else None,
        roots=spec.get("roots", {}), allowed_shares=tuple(spec.get("allowed_shares", ())),
        edge_config=spec.get("edge_config", ""),
    )


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def state_output(spec: dict) -> list[str]:
    """What templates/commands/state.sh.j2 prints for a target in this state."""
    exports = ["@exports", *("\t".join(e) for e in spec.get("exports", []))]
    if spec.get("noroot"):
        return [*exports, "@noroot"]
    files = spec["files"]
    lines = [*exports, "@dirs", *spec["dirs"], "@links", *spec.get("links", []), "@stat"]
    lines += [f"{mode} {owner} {path}" for path, (_, mode, owner) in files.items()]
    lines += ["@sha", *(f"{sha(text)}  {path}" for path, (text, _, _) in files.items())]
    lines += ["@secret_values", *spec["secret_values"]]
    hashed = [f"{sha(text)}  {path}" for path, text in spec["secret_env_files"].items()]
    recorded = [f"{layout.SECRETS_SPEC_LINE}{sha(spec['secrets_section'])}", *hashed]  # the section they came from
    now = hashed if not spec.get("secret_env_edited") else hashed[:-1] + ["0" * 64 + "  edited"]
    lines += ["@secret_state", *(recorded if spec["secrets_written"] else []), "@secret_now",
              *(now if spec["secrets_written"] else []), "@containers"]
    lines += [f"{name} {status} {health} {image} sha256:0 {config}"
              for name, (status, health, image, config) in spec["containers"].items()]
    if "edge_loaded" in spec:
        lines += ["@edge_loaded", *([spec["edge_loaded"]] if spec["edge_loaded"] else [])]
    lines += ["@last_release", *([spec["last_release"]] if spec.get("last_release") else [])]
    lines += ["@lock", *([json.dumps(spec["lock"])] if spec.get("lock") else []), "@routes"]
    lines += [f"{name} {code}" for name, code in spec["routes"].items()]
    if "shared" in spec:
        import base64

        lines += ["@shared", base64.b64encode(spec["shared"].encode()).decode()]
    return lines + ["@end"]
