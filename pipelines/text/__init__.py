"""Monolingual and parallel text stages: readers, cleaning, language ID, dedup."""
