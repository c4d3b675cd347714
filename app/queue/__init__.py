"""The durable inbox: receive, batch, store and drain deliveries; no GitHub, no decisions."""
