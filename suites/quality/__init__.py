"""The quality suite: see `suite.py` for its spec and entry point."""
