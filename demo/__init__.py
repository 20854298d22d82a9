"""The synthetic Vega: the seed's metrics, served for the live tests and the benchmark."""
