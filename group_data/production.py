"""The production target: the Synology NAS (DSM 7.2, Docker 24, Compose 2.20.1).

The defaults in all.py are production's. What only the operator can know is asked for here:
set these before the first deploy (the catalog refuses to deploy without them).
"""

services = {
    # No public image exists: build one from open-condo-software/condo (needs a 6 GB Node heap),
    # push or load it on the NAS, and set its pinned tag here; or set enabled=False.
    "condo": {"image": None},
    # cocolabs/cocorico is a 2019 debug container, not a production image: build one from
    # Cocolabs-SAS/cocorico and set its pinned tag here; or set enabled=False.
    "cocorico": {"image": None},
}

tunnel = {
    # UUID of the marketplace's own tunnel (`cloudflared tunnel create marketplace`).
    "id": None,
}
