"""geo_discovery.ranking.scoring."""
