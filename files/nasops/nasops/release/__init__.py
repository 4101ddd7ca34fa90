"""Releases (`nasops release apply|rollback|list|prune`): every converge that changes the stack
is one, recorded under releases/ and never touching a data volume.

    releases/ID/deploy.json    who ran it from where, when, the git commit (the deploy writes it)
    releases/ID/files.sha256   the hash of every managed file as applied; files/ a copy of them
    releases/ID/images         per service: image tag, image ID, repository digests
    releases/ID/backup         the backup taken before it of the databases it touched
    releases/ID/tasks/         its release tasks' output, SERVICE-NAME.log (failed-task: the one that failed)
    releases/ID/status         applying | good | failed | rolled-back-to:ID
    releases/current, releases/last-good, releases/audit.log

records.py reads and writes them, converge.py brings the engine to the files (Compose's `up`,
or ../swarm_stack.py on swarm), apply.py is the release's state machine (apply, roll back, prune
what is beyond housekeeping.keep_releases), commands.py the command line."""
