"""The Kubernetes target: production's catalog as manifests for a cluster the operator runs
(docs/OUTGROW.md). Nothing is deployed over SSH: `make render TARGET=k8s` writes the manifests
into out/k8s, `sh out/k8s/create-secrets.sh` makes the Secrets, `kubectl apply -k out/k8s`
applies. What production asks of the operator (Condo's and Cocorico's images, the tunnel id,
Kill Bill's and Kaui's DDL) it asks here too, and the images must be in a registry the cluster
pulls from.
"""

extends = ["production"]
engine = "kubernetes"
