"""Evaluation suites: each turns (model, data, options) into result records in a run directory."""
