"""Platform backends: how a service's containers reach a Docker host or a Kubernetes cluster."""
