"""`greenzone health`: whether the running appliance works, layer by layer.

Readers (`health/readers/`) fetch plain data with a timeout on every call; the verdicts
(`*_checks.py`) are pure functions over that data, so each failure mode is tested on real-shaped
objects without a cluster, a GPU or a network.
"""
