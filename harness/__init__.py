"""ebmbench: evaluation and benchmarking harness for energy-based models."""

__version__ = "0.1.0"
