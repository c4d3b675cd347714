"""GitHub: the client, applying plans, permissions, redelivery, labels, config source."""
