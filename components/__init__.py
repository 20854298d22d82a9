"""Pulumi components of the Vega 2.0 observability stack."""
