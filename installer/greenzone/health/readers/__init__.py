"""Thin adapters that fetch what health judges: NVML and the kernel log, the Kubernetes API, HTTP
endpoints and TLS certificates. Each returns plain data from `health/observed.py` and never raises
for a dead layer; each network call carries a timeout taken from the run's budget."""
