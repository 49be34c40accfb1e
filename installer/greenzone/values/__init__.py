"""Answers -> Helm values for every release of the appliance (pure; no helm, no cluster)."""
