"""The target: how the deploy reaches it as root (access), the commands it sends (commands), what
it holds now read in one remote command (facts, state), what it must offer (preflight) and the
deploy lock (lock). Nothing here decides a change: that is deploys/plan.py."""
