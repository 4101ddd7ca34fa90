# The front door. `make deploy` and `make test` work on a fresh Debian bookworm machine (root).
#   make deploy [ALLOW_DIRTY=1] converge the NAS if MARKETPLACE_NAS is set, else the local target
#                               (the NAS takes only pushed commits unless ALLOW_DIRTY=1)
#   make test                   unit tests + end-to-end on the staging target
#   make render OUT=DIR [TARGET=local]   write every file a deploy would push, no connection
#   make check [TARGET=local]   run the testinfra checks against a deployed target
#   make status / make down     health table / stop the stack (data kept)
#   make preflight              what the target offers against what the deploy needs
#   make plan                   what a deploy would change and why, touching nothing (exit 0: nothing would)
#   make validate [TARGET=...]  check the catalogs (every target by default), connect to nothing
#   make route URL=https://... [TARGET=]  which tunnel rule, edge location and service get a URL
#   make rotate SECRET=NAME     replace one secret on TARGET, restart only the services using it
#   make releases               the target's releases (current, last good, lock holder)
#   make rollback [RELEASE=ID]  back to the good release before the current one (or that one), no checkout
#   make backup                 back up TARGET now (dump, verify by restoring, prune, copy off); prints the manifest
#   make backups                the target's backups (id, age, size, verified, release)
#   make restore BACKUP=ID [ONLY=db,...] [CONFIRM=yes] [FROM=offsite]
#                               restore a backup (the services using it stop; their state is backed up first)
#   make backup-key             the SSH public key the off-NAS copy's remote account must authorize
#   make run SERVICE=NAME CMD="..."  a one-off command in a new container of SERVICE (audited)
#   make logs SERVICE=NAME [FOLLOW=1] [LINES=200]  a service's log
#   make ship IMAGE=NAME:TAG    a locally built image onto the target over SSH (no registry)
#   make unlock                 release a deploy lock left behind by an interrupted deploy
#   make bench                  what a deploy costs on the staging target (table + out/bench.json)
#   make docs                   regenerate docs/SETTINGS.md from group_data/all.py
SHELL := /bin/bash
PY_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TARGET ?= $(if $(MARKETPLACE_NAS),production,local)
OUT ?= out/$(TARGET)
export MARKETPLACE_TARGET := $(TARGET)
# make run's command reaches the CLI through the environment, not a quoted command line
export MAKE_RUN_CMD := $(CMD)
export MAKE_ROUTE_URL := $(URL)
# TARGET as the operator gave it (the command line or the environment), not its default
GIVEN_TARGET := $(if $(filter command line environment,$(origin TARGET)),$(TARGET))
# A target's sudo password made on this machine (setup makes the DSM stand-in's, for staging) is
# read by deploys/target/access.py when a command needs it, not here: make reads this file before any
# recipe runs, so a first `make deploy` would not see the file its setup step writes.

.PHONY: browser ship run logs deploy test unit e2e check render status down preflight plan validate route rotate releases rollback unlock backup backups restore backup-key bench docs setup tools venv clean

deploy: venv
	@if $(PY) -m deploys.ops.cli on-this-machine $(TARGET); then bash files/local-target/setup.sh; fi
	$(PY) -m deploys.ops.cli validate $(TARGET)
	$(VENV)/bin/pyinfra -y inventory.py deploys/marketplace.py $(if $(ALLOW_DIRTY),--data allow_dirty=1)
	@$(PY) -m deploys.ops.cli run $(TARGET) healthcheck services

test: venv tools browser setup
	$(VENV)/bin/pytest tests/ -v

unit: venv tools
	$(VENV)/bin/pytest tests/ -m "not e2e and not docker"

e2e: venv tools browser setup
	$(VENV)/bin/pytest tests/ -m "e2e or docker" -v

check: venv
	$(VENV)/bin/pytest checks/ --target $(TARGET) -v

render: venv
	$(PY) -m deploys.ops.cli render $(TARGET) $(OUT)

status: venv
	$(PY) -m deploys.ops.cli run $(TARGET) healthcheck

down: venv
	$(PY) -m deploys.ops.cli run $(TARGET) stop_all

preflight: venv
	$(PY) -m deploys.ops.cli preflight $(TARGET)

plan: venv
	@$(PY) -m deploys.ops.cli plan $(TARGET)

validate: venv
	$(PY) -m deploys.ops.cli validate $(GIVEN_TARGET)

route: venv
	@test -n "$$MAKE_ROUTE_URL" || { echo "usage: make route URL=https://host/path [TARGET=]" >&2; exit 2; }
	@$(PY) -m deploys.ops.cli route "$$MAKE_ROUTE_URL" $(if $(GIVEN_TARGET),--target $(GIVEN_TARGET))

rotate: venv
	@test -n "$(SECRET)" || { echo "usage: make rotate SECRET=NAME [TARGET=...]" >&2; exit 2; }
	$(PY) -m deploys.ops.cli rotate $(TARGET) '$(SECRET)'

bench: venv setup
	$(PY) -m bench

docs: venv
	$(PY) -m deploys.catalog.settings_doc > docs/SETTINGS.md

releases: venv
	@$(PY) -m deploys.ops.cli releases $(TARGET)

rollback: venv
	$(PY) -m deploys.ops.cli rollback $(TARGET) $(RELEASE)

ship: venv
	@test -n "$(IMAGE)" || { echo "usage: make ship IMAGE=NAME:TAG [TARGET=...]" >&2; exit 2; }
	@$(PY) -m deploys.ops.cli ship $(TARGET) '$(IMAGE)'

run: venv
	@test -n "$(SERVICE)" -a -n "$(CMD)" || { echo 'usage: make run SERVICE=NAME CMD="command args" [TARGET=...]' >&2; exit 2; }
	@$(PY) -m deploys.ops.cli exec $(TARGET) '$(SERVICE)' "$$MAKE_RUN_CMD"

logs: venv
	@test -n "$(SERVICE)" || { echo "usage: make logs SERVICE=NAME [FOLLOW=1] [LINES=200]" >&2; exit 2; }
	@$(PY) -m deploys.ops.cli logs $(TARGET) '$(SERVICE)' --lines $(or $(LINES),200) $(if $(FOLLOW),--follow)

unlock: venv
	$(PY) -m deploys.ops.cli unlock $(TARGET)

backup: venv
	$(PY) -m deploys.ops.cli backup $(TARGET)

backups: venv
	@$(PY) -m deploys.ops.cli backups $(TARGET)

restore: venv
	@test -n "$(BACKUP)" || { echo "usage: make restore BACKUP=ID [ONLY=db,...] [CONFIRM=yes] [FROM=offsite] (make backups lists them)" >&2; exit 2; }
	$(PY) -m deploys.ops.cli restore $(TARGET) '$(BACKUP)' $(if $(ONLY),--only '$(ONLY)') $(if $(CONFIRM),--confirm '$(CONFIRM)') $(if $(filter offsite,$(FROM)),--from-offsite)

backup-key: venv
	@$(PY) -m deploys.ops.cli backup-key $(TARGET)

# What the end-to-end tests look at the status page with: headless Chromium (Debian).
browser:
	@command -v chromium >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# What the unit tests need besides Python: shellcheck (Debian).
tools:
	@command -v shellcheck >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null; }

# This machine as the local and staging targets: Docker Engine, Compose 2.20.1, sshd on
# 127.0.0.1:2222 (local), the DSM stand-in on 127.0.0.1:2223 (staging), images.
setup:
	bash files/local-target/setup.sh

venv: $(VENV)/.installed
$(VENV)/.installed: requirements.txt
	$(PY_SYS) -m venv $(VENV)
	$(VENV)/bin/pip install -q --disable-pip-version-check -r requirements.txt
	touch $@

clean:
	rm -rf $(VENV) out .pytest_cache
