"""Feature extractors for the sample-quality metrics (IS, FID, KID, precision/recall).

Each extractor is a torch-fidelity feature extractor behind a small ebmbench spec that knows its weights (path
and SHA-256, recorded in every result), which input shapes it accepts and which layer each metric reads.
Specs are registered in ``ebmbench.registries.EXTRACTORS``; ``make_extractor`` builds one by name.
"""

from ebmbench.extractors.base import Extractor, make_extractor, to_uint8

__all__ = ["Extractor", "make_extractor", "to_uint8"]
