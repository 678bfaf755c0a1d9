"""Trainers: one module per model family, each with a ``Config`` dataclass and a ``train`` function."""
