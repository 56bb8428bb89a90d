"""geo_discovery.snapshot."""
