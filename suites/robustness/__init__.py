"""The robustness suite: see `spec.py` for what it declares and `suite.py` for how it measures."""
