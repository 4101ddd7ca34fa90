"""Applying a plan: the deploy's operations in order (operations), who and what a release is
(release), and the ingress pushed to Cloudflare in remote mode (cloudflare). They decide nothing
themselves: every change and its reason come from deploys/plan.py."""
