"""Datasets: one registry of image sets that all yield float tensors in a declared range."""

from ebmbench.data.base import DataContext, ImageSet, load_dataset

__all__ = ["DataContext", "ImageSet", "load_dataset"]
