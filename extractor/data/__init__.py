"""Documents: the record type, its files, CoNLL import and the synthetic sample generator."""
