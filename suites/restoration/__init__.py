"""Suite ``restoration``."""
