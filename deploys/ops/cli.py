"""Local commands that need no connection: `python -m deploys.ops.cli render TARGET OUT`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from deploys import catalog as catalog_mod
from deploys.render import render, secret_file_preview


def cmd_render(args: argparse.Namespace) -> int:
    """Write every file the deploy would push for a target into OUT (secrets as placeholders)."""
    catalog = catalog_mod.load(args.target)
    out = Path(args.out)
    if catalog.engine == "kubernetes":
        from deploys.render.kubernetes import render as manifests

        for path, text in manifests(catalog).items():
            dest = out / path
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
            dest.chmod(0o755 if path.endswith(".sh") else 0o644)
        print(f"rendered the Kubernetes manifests of target {catalog.target!r} into {out}; apply them with:\n"
              f"  sh {out}/create-secrets.sh && kubectl apply -k {out}")
        return 0
    files = render(catalog)
    for path, managed in files.items():
        dest = out / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(managed.content)
        dest.chmod(managed.mode)
    for path, text in secret_file_preview(catalog).items():
        dest = out / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("# PREVIEW: written on the target by scripts/secrets.sh; "
                        "{secret:NAME} is generated there and never leaves it\n" + text)
    print(f"rendered {len(files)} files for target {catalog.target!r} into {out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    """Check the catalog and the ingress of each target (all by default), connecting to nothing."""
    from deploys.render.validate import check

    failed = 0
    for target in args.targets or catalog_mod.targets():
        try:
            check(target)
            print(f"{target}: ok")
        except catalog_mod.CatalogError as exc:
            failed += 1
            print(f"{target}: {exc}")
    return 1 if failed else 0


def cmd_route(args: argparse.Namespace) -> int:
    """Which tunnel rule, edge location and service get a URL (like `cloudflared tunnel
    ingress rule URL`): for --target, else for the target whose hostnames include its host (else
    every target)."""
    from urllib.parse import urlsplit

    from deploys.render.ingress import explain
    from deploys.render import edge_config

    url = args.url if "://" in args.url else f"https://{args.url}"
    host = urlsplit(url).hostname
    if args.target:
        chosen = [catalog_mod.load(args.target, strict=False)]
    else:
        catalogs = [catalog_mod.load(t, strict=False) for t in catalog_mod.targets()]
        chosen = [c for c in catalogs if host in c.hostnames.values()] or catalogs
    for catalog in chosen:
        edge = edge_config(catalog) if "edge" in catalog.services else None
        print("\n".join(explain(catalog, edge, url)))
        if catalog.problems:
            print(f"  (target {catalog.target} has {len(catalog.problems)} catalog problem(s): "
                  "make validate)")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    """Replace one secret on a target and restart only the services that use it."""
    from deploys.ops.remote import rotate_secret

    return rotate_secret(args.target, args.secret)


def cmd_on_this_machine(args: argparse.Namespace) -> int:
    """Exit 0 when the target is this machine (its ssh_hostname a loopback address): `make
    deploy` then provisions it first (files/local-target/setup.sh)."""
    import ipaddress

    host = catalog_mod.connection(args.target).get("ssh_hostname") or ""
    try:
        return 0 if host == "localhost" or ipaddress.ip_address(host).is_loopback else 1
    except ValueError:
        return 1


def cmd_preflight(args: argparse.Namespace) -> int:
    """What the target offers against what the deploy needs (one read-only round trip)."""
    from deploys.ops.remote import preflight_report

    return preflight_report(args.target)


def cmd_plan(args: argparse.Namespace) -> int:
    """What a deploy would change on the target and why, touching nothing (exit 0: nothing,
    2: something would change, 1: the deploy would refuse)."""
    from deploys.ops.remote import show_plan

    return show_plan(args.target)


def cmd_releases(args: argparse.Namespace) -> int:
    """List a target's releases (current, last good, the lock's holder if any)."""
    from deploys.ops.remote import list_releases

    return list_releases(args.target)


def cmd_rollback(args: argparse.Namespace) -> int:
    """Roll a target back to a recorded release (default: the last good), no checkout needed."""
    from deploys.ops.remote import rollback

    return rollback(args.target, args.release)


def cmd_unlock(args: argparse.Namespace) -> int:
    """Release a deploy lock left behind by an interrupted deploy."""
    from deploys.ops.remote import unlock

    return unlock(args.target)


def cmd_backup(args: argparse.Namespace) -> int:
    """Take a backup of a target now and print its manifest."""
    from deploys.ops.remote import backup_now

    return backup_now(args.target)


def cmd_backups(args: argparse.Namespace) -> int:
    """List a target's backups: id, age, size, verified or not, release, databases."""
    from deploys.ops.remote import list_backups

    return list_backups(args.target)


def cmd_restore(args: argparse.Namespace) -> int:
    """Restore a backup of a target (all its databases, or --only these)."""
    from deploys.ops.remote import restore_backup

    only = [db for item in args.only for db in item.replace(",", " ").split()]
    return restore_backup(args.target, args.backup, only, args.confirm == "yes", args.from_offsite)


def cmd_backup_key(args: argparse.Namespace) -> int:
    """Print the SSH public key the off-NAS copy logs in with (for the remote's authorized_keys)."""
    from deploys.ops.remote import offsite_key

    return offsite_key(args.target)


def cmd_script(args: argparse.Namespace) -> int:
    """Run a deployed ops script (healthcheck, stop_all, ...) on a target over SSH."""
    from deploys.ops.remote import run_script

    return run_script(args.target, args.script, args.args)


def cmd_exec(args: argparse.Namespace) -> int:
    """Run a one-off command in a new container of a service (its image, env and secrets), audited."""
    import shlex

    from deploys.ops.remote import run_script

    argv = shlex.split(args.cmd)
    if not argv:
        print('usage: make run SERVICE=NAME CMD="command args"', file=sys.stderr)
        return 2
    return run_script(args.target, "run", [args.service, *argv])


def cmd_ship(args: argparse.Namespace) -> int:
    """Move a locally built image to the target over SSH (skipped when it has that image ID)."""
    from deploys.ops.ship import ship

    return ship(args.target, args.image)


def cmd_logs(args: argparse.Namespace) -> int:
    """A service's container log (the last LINES lines; --follow streams on)."""
    from deploys.ops.remote import run_script

    return run_script(args.target, "compose", ["logs", "--no-color", "--tail", str(args.lines),
                                               *(["--follow"] if args.follow else []), args.service],
                      stream=args.follow)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploys.ops.cli")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("render", help=cmd_render.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("out")
    p.set_defaults(func=cmd_render)
    p = sub.add_parser("validate", help=cmd_validate.__doc__)
    p.add_argument("targets", nargs="*", choices=[[], *catalog_mod.targets()], metavar="TARGET")
    p.set_defaults(func=cmd_validate)
    p = sub.add_parser("route", help=cmd_route.__doc__)
    p.add_argument("url")
    p.add_argument("--target", choices=catalog_mod.targets())
    p.set_defaults(func=cmd_route)
    p = sub.add_parser("rotate", help=cmd_rotate.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("secret")
    p.set_defaults(func=cmd_rotate)
    for name, func in (("releases", cmd_releases), ("unlock", cmd_unlock), ("preflight", cmd_preflight),
                       ("plan", cmd_plan),
                       ("on-this-machine", cmd_on_this_machine), ("backup", cmd_backup),
                       ("backups", cmd_backups), ("backup-key", cmd_backup_key)):
        p = sub.add_parser(name, help=func.__doc__)
        p.add_argument("target", choices=catalog_mod.targets())
        p.set_defaults(func=func)
    p = sub.add_parser("rollback", help=cmd_rollback.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("release", nargs="?")
    p.set_defaults(func=cmd_rollback)
    p = sub.add_parser("restore", help=cmd_restore.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("backup")
    p.add_argument("--only", action="append", default=[], help="a database (repeat, or comma-separated)")
    p.add_argument("--confirm", default="", help="yes: needed where backup.confirm_restore is set")
    p.add_argument("--from-offsite", action="store_true", help="bring the backup back from the off-NAS copy first")
    p.set_defaults(func=cmd_restore)
    p = sub.add_parser("run", help=cmd_script.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("script", choices=["healthcheck", "stop_all", "start_all"])
    p.add_argument("args", nargs="*", help="the script's arguments (healthcheck: services)")
    p.set_defaults(func=cmd_script)
    p = sub.add_parser("exec", help=cmd_exec.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("service")
    p.add_argument("cmd", help="the command, split like a shell would (no shell runs it)")
    p.set_defaults(func=cmd_exec)
    p = sub.add_parser("ship", help=cmd_ship.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("image")
    p.set_defaults(func=cmd_ship)
    p = sub.add_parser("logs", help=cmd_logs.__doc__)
    p.add_argument("target", choices=catalog_mod.targets())
    p.add_argument("service")
    p.add_argument("--lines", type=int, default=200)
    p.add_argument("--follow", action="store_true")
    p.set_defaults(func=cmd_logs)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except catalog_mod.CatalogError as exc:
        print(exc, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
