"""Upgrading a running appliance from a newer bundle: the plan, its preflight, the history kept for a
rollback, and the clean-up of what the previous version left."""
