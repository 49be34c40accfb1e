"""The install: answers -> inventory and phases, run through ansible-runner, resumable."""
