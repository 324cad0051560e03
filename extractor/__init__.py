"""Batch field extraction from résumé-like documents with GlobalPointer."""

__version__ = "0.1.0"
