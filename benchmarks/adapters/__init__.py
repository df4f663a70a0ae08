"""System adapters: small scripts, each run in a subprocess with its own Python (see ``harness.py``)."""
