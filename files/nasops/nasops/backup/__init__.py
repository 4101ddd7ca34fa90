"""Backups that are proven by restoring them (`nasops backup`, scripts/backup.sh).

One backup is one folder BACKUP_DIR/ID (0700):
  manifest.json   id, kind, time, the release that ran, every part with its size, SHA-256 and
                  the tool that wrote it (and what was skipped, and why)
  status          dumping | unverified | verifying | verified | failed: WHY
  postgres/DB.dump (pg_dump -Fc)  mysql/DB.sql (mysqldump --single-transaction)
  mongodb/DB.archive.gz (mongodump --archive --gzip)  redis/SERVICE.rdb (the server's RDB)
  config.tar[.enc]  the secrets, .env, the compose file and the current release's record and
                  files, with their SHA-256 list (openssl AES-256-CBC when a passphrase is set)
  counts/         rows per table / documents per collection / keys per Redis db: of the source
                  before and after the dump, and of the verification's restore
  verify.log      what the verification compared

Every tool runs inside a container of the stack's own images (DSM has none of them): the dumps
in the live servers, the verification in throwaway containers of the same images with no
network. Only a verified backup counts (BACKUP_DIR/last-verified).

Modules: store (the folder, its records and its lock), retention (what is kept, pure), counts
(what a database holds, compared), engines (each engine's tools), throwaway (the verification's
containers), config_part (the secrets and configuration), offsite (restic), commands (run,
dump, verify, restore, prune, list, age, show)."""
