"""`greenzone install`: one flow (preflight, verify, plan, run) shared by the wizard and the unattended mode."""
