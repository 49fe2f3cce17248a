"""The only modules that import network, device and model libraries."""
