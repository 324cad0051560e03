"""Schemas and the rules that turn spans into normalised field values."""
