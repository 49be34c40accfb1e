"""Thin adapters over helm (pyhelm3) and the Kubernetes client."""
