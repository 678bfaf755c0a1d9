"""Bring models in: weights from user files (safely), JEM's published checkpoints and plain state dicts of
ebmbench's own architectures, each written out as a normal ebmbench checkpoint."""
