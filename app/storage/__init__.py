"""The database: schema, the incident store, bookkeeping and reads."""
