"""Suite ``calibration``."""
