"""Throughput benchmark of the project's paths against the notebook recipes: `python -m bench`."""
