"""Caption stages: sources, cleaning, dedup, language check, shard plan, image download."""
