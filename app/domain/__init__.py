"""The incident domain, pure (no I/O): lifecycle, records, config, commands, the decision."""
