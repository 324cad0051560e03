"""Industry from employer names: which employer, company table, learned classifier, keyword rules."""
