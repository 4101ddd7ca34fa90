"""What a database holds, counted the same way in the source and in a restore, and the
comparison that decides a verification: rows per table (PostgreSQL, MySQL), documents per
collection (MongoDB), keys per logical database (Redis).

A count file is sorted lines `NAME<TAB>COUNT` (counts/ENGINE-DB.before|after|restored|live)."""

from __future__ import annotations

import re

PG_COUNTS = ("SELECT format('SELECT %L, count(*) FROM %I.%I', schemaname || '.' || tablename, schemaname, tablename) "
             "FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1")
MYSQL_COUNTS = ("SET SESSION group_concat_max_len = 4194304; SELECT IFNULL(GROUP_CONCAT(CONCAT('SELECT ', "
                "QUOTE(table_name), ', COUNT(*) FROM `', REPLACE(table_name, '`', '``'), '`') SEPARATOR ' UNION ALL '), "
                "'SELECT 1, 1 FROM DUAL WHERE FALSE') INTO @q FROM information_schema.tables "
                "WHERE table_schema = DATABASE() AND table_type = 'BASE TABLE'; PREPARE counts FROM @q; EXECUTE counts;")
MONGO_COUNTS = ('var d = db.getSiblingDB(DB); d.getCollectionNames().sort().forEach(function (n) { '
                'print(n + "\\t" + d.getCollection(n).countDocuments({})); });')
REDIS_KEYSPACE = re.compile(r"^(db\d+):keys=(\d+),", re.M)


def normalized(text: str) -> str:
    """A tool's `NAME<TAB>COUNT` output as a count file: non-empty lines, sorted bytewise."""
    lines = [line for line in text.replace("\r", "").splitlines() if line.strip()]
    return "".join(f"{line}\n" for line in sorted(lines, key=lambda s: s.encode()))


def redis_keyspace(info: str) -> str:
    """`INFO keyspace` as a count file."""
    return normalized("\n".join(f"{db}\t{keys}" for db, keys in REDIS_KEYSPACE.findall(info.replace("\r", ""))))


def parse(text: str) -> dict[str, int]:
    found = {}
    for line in text.splitlines():
        name, _, count = line.rpartition("\t")
        if name:
            found[name] = int(count or 0)
    return found


def totals(text: str) -> tuple[int, int]:
    """(tables, rows) of a count file."""
    counts = parse(text)
    return len(counts), sum(counts.values())


def compare(before: str, after: str, restored: str) -> tuple[bool, list[str]]:
    """The restore has every table of the source with its rows (between the counts before and
    after the dump for a table written meanwhile), and nothing the source had not. The lines
    say what differs, or one `ok:` line."""
    b, a, r = parse(before), parse(after), parse(restored)
    lines, bad = [], False
    for name in sorted(b):
        lo, hi = sorted((b[name], a.get(name, b[name])))
        if name not in r:
            lines.append(f"  {name}: missing in the restore")
            bad = True
        elif not lo <= r[name] <= hi:
            lines.append(f"  {name}: {r[name]} restored, {b[name]} in the source")
            bad = True
        elif lo != hi:
            lines.append(f"  {name}: written during the backup ({b[name]} -> {a.get(name)}), {r[name]} restored")
    for name in sorted(r):
        if name not in b and name not in a:
            lines.append(f"  {name}: not in the source")
            bad = True
    if not bad:
        lines.append(f"  ok: {len(r)} table(s), {sum(r.values())} row(s), as in the source")
    return not bad, lines
