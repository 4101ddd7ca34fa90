"""What a backup and a restore cost on the staging target, next to the plain tools (part of
`make bench`; `python -m bench.backup` alone). Nothing is asserted.

The staging databases are seeded with ROWS rows (70 % PostgreSQL, 30 % MySQL), then:
  plain dump       pg_dump -Fc of every PostgreSQL database + mysqldump --single-transaction,
                   run in the live servers as scripts/backup.sh does, into files
  backup dump      scripts/backup.sh dump (the same, plus counts, checksums, the secrets and
                   configuration part and the manifest)
  backup run       scripts/backup.sh run: dump, verification in throwaway containers, pruning
  plain restore    pg_restore into new databases + mysql into a new database
  restore data     scripts/backup.sh restore: the databases' part (new database, checks, swap)
  services down    from stopping the services that use the databases to all healthy again
The seed tables are dropped and the benchmark's backups removed at the end.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from deploys import catalog as catalog_mod

ROWS = 1_000_000


def _sh(*argv: str, stdin=None, stdout=None, cwd: str | None = None) -> str:
    proc = subprocess.run(argv, stdin=stdin, stdout=stdout or subprocess.PIPE, stderr=subprocess.PIPE,
                          cwd=cwd, text=stdout is None)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv[:6])} failed: {proc.stderr[-2000:]}")
    return proc.stdout if stdout is None else ""


class Stack:
    """The staging stack's database servers, reached with `docker exec` on this machine."""

    def __init__(self, catalog):
        self.catalog = catalog
        self.root = catalog.deploy_root
        self.pg = f"{catalog.project_name}-postgres-1"
        self.mysql = f"{catalog.project_name}-cocorico-mysql-1"

    def psql(self, sql: str, db: str = "marketplace") -> str:
        return _sh("docker", "exec", self.pg, "psql", "-v", "ON_ERROR_STOP=1", "-qAtX", "-U", "postgres", "-d", db, "-c", sql)

    def mysql_sql(self, sql: str, db: str = "cocorico") -> str:
        return _sh("docker", "exec", self.mysql, "sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -N -B "$1" -e "$2"',
                   "sh", db, sql)

    def seed(self, rows: int) -> None:
        pg_rows, my_rows = rows * 7 // 10, rows - rows * 7 // 10
        self.psql("DROP TABLE IF EXISTS bench_rows; CREATE TABLE bench_rows (id bigint PRIMARY KEY, account text, "
                  "amount numeric(12,2), created timestamptz, note text);"
                  f"INSERT INTO bench_rows SELECT g, 'acct-' || (g % 5000), (g % 100000) / 100.0, "
                  f"now() - (g || ' minutes')::interval, md5(g::text) FROM generate_series(1, {pg_rows}) g;"
                  "ALTER TABLE bench_rows OWNER TO connector; ANALYZE bench_rows;")
        self.mysql_sql("DROP TABLE IF EXISTS bench_digits, bench_rows;"
                       "CREATE TABLE bench_digits (d int); INSERT INTO bench_digits VALUES (0),(1),(2),(3),(4),(5),(6),(7),(8),(9);"
                       "CREATE TABLE bench_rows (id int PRIMARY KEY, listing varchar(40), price decimal(10,2), note varchar(64));"
                       "INSERT INTO bench_rows SELECT n, CONCAT('listing-', n % 3000), (n % 50000) / 100, MD5(n) FROM "
                       "(SELECT a.d + 10*b.d + 100*c.d + 1000*d.d + 10000*e.d + 100000*f.d + 1 AS n FROM bench_digits a, "
                       "bench_digits b, bench_digits c, bench_digits d, bench_digits e, bench_digits f) t "
                       f"WHERE n <= {my_rows}; DROP TABLE bench_digits;")

    def unseed(self) -> None:
        self.psql("DROP TABLE IF EXISTS bench_rows")
        self.mysql_sql("DROP TABLE IF EXISTS bench_rows")

    def plain_dump(self, out: Path) -> float:
        out.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        for db in self.catalog.postgres_databases:
            with open(out / f"{db}.dump", "wb") as fh:
                _sh("docker", "exec", self.pg, "pg_dump", "-U", "postgres", "-Fc", db, stdout=fh)
        with open(out / "cocorico.sql", "wb") as fh:
            _sh("docker", "exec", self.mysql, "sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysqldump -uroot '
                '--single-transaction --quick --routines --triggers --events --hex-blob --no-tablespaces cocorico',
                stdout=fh)
        return time.perf_counter() - started

    def plain_restore(self, dumps: Path) -> float:
        started = time.perf_counter()
        for db in self.catalog.postgres_databases:
            self.psql(f'DROP DATABASE IF EXISTS "bench_{db}"', "postgres")
            self.psql(f'CREATE DATABASE "bench_{db}"', "postgres")
            with open(dumps / f"{db}.dump", "rb") as fh:
                _sh("docker", "exec", "-i", self.pg, "pg_restore", "-U", "postgres", "-d", f"bench_{db}", stdin=fh,
                    stdout=subprocess.DEVNULL)
        self.mysql_sql("DROP DATABASE IF EXISTS bench_cocorico; CREATE DATABASE bench_cocorico")
        with open(dumps / "cocorico.sql", "rb") as fh:
            _sh("docker", "exec", "-i", self.mysql, "sh", "-c", 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot bench_cocorico',
                stdin=fh, stdout=subprocess.DEVNULL)
        elapsed = time.perf_counter() - started
        for db in self.catalog.postgres_databases:
            self.psql(f'DROP DATABASE "bench_{db}"', "postgres")
        self.mysql_sql("DROP DATABASE bench_cocorico")
        return elapsed

    def backup(self, *args: str) -> tuple[float, str]:
        started = time.perf_counter()
        proc = subprocess.run(["bash", "scripts/backup.sh", *args], cwd=self.root, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"backup.sh {' '.join(args)} failed:\n{(proc.stdout + proc.stderr)[-3000:]}")
        return time.perf_counter() - started, proc.stdout + proc.stderr


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure(catalog, rows: int = ROWS) -> dict:
    """Seed, time the plain tools and the backup script, clean up; the figures as a dict."""
    stack = Stack(catalog)
    backups = Path(catalog.backup_dir)
    before = {p.name for p in backups.iterdir()} if backups.exists() else set()
    pointer = backups / "last-verified"
    saved = pointer.read_text() if pointer.exists() else None
    plain_dir = backups / ".bench-plain"
    print(f"seeding {rows} rows (70 % PostgreSQL, 30 % MySQL) ...", file=sys.stderr)
    stack.seed(rows)
    try:
        plain_dump = stack.plain_dump(plain_dir)
        dump_s, out = stack.backup("dump", "--kind", "bench")
        dumped = out.split()[-1]
        run_s, out = stack.backup("run", "--kind", "bench")
        verified = (backups / "last-verified").read_text().split()[0]
        verify_s = float(re.search(r"verified in ([\d.]+) s", out).group(1))
        plain_restore = stack.plain_restore(plain_dir)
        restore_s, out = stack.backup("restore", verified, *catalog.databases_of("postgres"), *catalog.databases_of("mysql"))
        data_s = float(re.search(r"data restored in ([\d.]+) s", out).group(1))
        down_s = float(re.search(r"down for ([\d.]+) s", out).group(1))
        pre_s = float(re.search(r"dumped in ([\d.]+) s", out).group(1))
        size, plain_size = _du(backups / verified), _du(plain_dir)
        rows_back = int(stack.psql("SELECT count(*) FROM bench_rows")) + int(stack.mysql_sql("SELECT count(*) FROM bench_rows"))
    finally:
        stack.unseed()
        shutil.rmtree(plain_dir, ignore_errors=True)
        for p in backups.iterdir():
            if p.name not in before and p.name[:1].isdigit():
                shutil.rmtree(p)
        if saved is None:
            pointer.unlink(missing_ok=True)
        else:
            pointer.write_text(saved)
    return {
        "rows": rows, "rows_after_restore": rows_back,
        "plain_dump_s": round(plain_dump, 2), "backup_dump_s": round(dump_s, 2),
        "backup_dump_ratio": round(dump_s / plain_dump, 2),
        "backup_run_s": round(run_s, 2), "backup_verify_s": verify_s,
        "backup_run_ratio": round(run_s / plain_dump, 2),
        "plain_restore_s": round(plain_restore, 2), "restore_data_s": data_s,
        "restore_data_ratio": round(data_s / plain_restore, 2) if plain_restore else None,
        "restore_total_s": round(restore_s, 2), "restore_pre_backup_s": pre_s,
        "restore_services_down_s": down_s,
        "backup_bytes": size, "plain_bytes": plain_size, "dumped_id": dumped,
    }


def rows_of(result: dict) -> list[tuple[str, float, str]]:
    """(measure, seconds, notes) for the bench table."""
    mib = 1 << 20
    return [
        ("plain pg_dump + mysqldump", result["plain_dump_s"], f"{result['plain_bytes'] / mib:.0f} MiB, {result['rows']} rows"),
        ("backup dump", result["backup_dump_s"], f"ratio {result['backup_dump_ratio']}"),
        ("backup run (dump + verify + prune)", result["backup_run_s"],
         f"ratio {result['backup_run_ratio']}, verify {result['backup_verify_s']:.0f} s, {result['backup_bytes'] / mib:.0f} MiB"),
        ("plain pg_restore + mysql", result["plain_restore_s"], ""),
        ("restore: the databases", result["restore_data_s"], f"ratio {result['restore_data_ratio']}"),
        ("restore: whole command", result["restore_total_s"],
         f"pre-restore backup {result['restore_pre_backup_s']:.0f} s, services down {result['restore_services_down_s']:.0f} s"),
    ]


def main() -> int:
    result = measure(catalog_mod.load("staging"))
    for name, seconds, note in rows_of(result):
        print(f"{name:36} {seconds:9.2f}  {note}")
    print(json.dumps(result, separators=(",", ":")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
