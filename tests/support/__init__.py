"""Live runs on 127.0.0.1: real Prometheus and Alertmanager processes with the rendered config."""
