"""`make bench`, the NAS-side program (files/nasops): its image's size and how many of its
layers it shares with the Connector's (both are built on the same Python base), and what a DSM
task's start costs: a bare `docker run` of the image, `healthcheck.sh report` and a status page
snapshot (`status.sh`) as DSM's tasks run them, on the NAS (the DSM stand-in); and what a
release spends in it on a healthy stack: the health gate, the databases' check and Kill Bill's
tenant (`ops.sh gate|databases|tenant`, each its own container), and a whole release's converge
on it (`release.sh rollback CURRENT`: the current release's files put back, the secret env files,
`compose config`, the database servers, `up`, the gate and the tenant, in one container). Not a
test: nothing is asserted."""

from __future__ import annotations

import json
import statistics
import subprocess
import time

from deploys import catalog as catalog_mod
from deploys import layout
from deploys.render import image_tag, ops_image

NAS_STANDIN = "marketplace-nas-standin"


def _inspect(tag: str) -> dict | None:
    run = subprocess.run(["docker", "image", "inspect", tag], capture_output=True, text=True)
    return json.loads(run.stdout)[0] if run.returncode == 0 else None


def _timed(argv: list[str], runs: int) -> dict:
    took = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, capture_output=True)
        took.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(took), 3), "min_s": round(min(took), 3),
            "max_s": round(max(took), 3), "runs": runs}


def measure(catalog, runs: int = 5) -> dict:
    tag, _ = ops_image(catalog)
    on_nas = ["docker", "exec", NAS_STANDIN, "bash"]
    # The first run builds the image where a deploy has not yet (then it is there).
    subprocess.run([*on_nas, f"{catalog.deploy_root}/{layout.script('healthcheck')}", "report"], capture_output=True)
    image = _inspect(tag) or {}
    layers = image.get("RootFS", {}).get("Layers", [])
    connector = _inspect(image_tag(catalog, catalog.services["connector"])) if "connector" in catalog.services else None
    shared = len(set(layers) & set((connector or {}).get("RootFS", {}).get("Layers", [])))
    return {
        "image": tag, "image_mib": round(image.get("Size", 0) / 1048576, 1), "layers": len(layers),
        "layers_shared_with_connector": shared,
        "container_start": _timed(["docker", "run", "--rm", "--entrypoint", "true", tag], runs),
        "health_report": _timed([*on_nas, f"{catalog.deploy_root}/{layout.script('healthcheck')}", "report"], runs),
        "status_snapshot": _timed([*on_nas, f"{catalog.deploy_root}/{layout.script('status')}"], runs),
        **{f"release_{step}": _timed([*on_nas, f"{catalog.deploy_root}/{layout.script('ops')}", step, *args], runs)
           for step, args in (("gate", ["/dev/null"]), ("databases", []), ("tenant", []))},
        "release_converge": _timed([*on_nas, "-c", f"cd {catalog.deploy_root} && bash {layout.script('release')} rollback "
                                    f"$(cat {layout.RELEASES}/current)"], min(runs, 3)),
    }


def rows_of(result: dict) -> list[tuple[str, dict, str]]:
    return [
        ("NAS-side program: container start", result["container_start"],
         f"image {result['image_mib']} MiB, {result['layers_shared_with_connector']} of {result['layers']} "
         "layers shared with the Connector's"),
        ("  healthcheck.sh report (DSM task)", result["health_report"], ""),
        ("  status.sh snapshot (DSM task)", result["status_snapshot"], ""),
        ("  a release's health gate", result["release_gate"], "healthy stack: one look"),
        ("  a release's databases", result["release_databases"], "users, passwords, DDL checked"),
        ("  a release's tenant", result["release_tenant"], "Kill Bill and Kaui asked"),
        ("  a release's whole converge", result["release_converge"], "rollback to the current release"),
    ]


def main() -> int:
    result = measure(catalog_mod.load("staging"))
    for name, s, note in rows_of(result):
        print(f"{name:34} {s['median_s']:9.3f} {s['min_s']:8.3f} {s['max_s']:8.3f} {s['runs']:5d}  {note}")
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
