"""geo_discovery.districts.detect."""
