"""Suite ``mcmc``."""
