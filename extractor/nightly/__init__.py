"""The nightly batch job: pipeline config, sources, record checks, ledger, database, engines, sinks, reports."""
