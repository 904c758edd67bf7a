"""Retrieval evaluation: mean recall per language, and the fusion presets' scorers."""
