"""geo_discovery.search."""
