"""nasops: the NAS side of the marketplace deploy, one program run in a container on the NAS.

It reads one description of the stack (ops/stack.json, written by the deploy from the catalog)
and the target's own state (the engine through the Docker SDK, the deploy root's records), and
  health    prints the checks (`make status`, the deploy's closing table, the monitor's report),
  monitor   alerts on a change of the checks' state and rotates the ops logs (DSM task),
  status    writes the status page's snapshot: HTML, JSON, Prometheus metrics (DSM task).
Every module has one concern; only engine.py talks to Docker and probe.py to the network.
"""
