"""Beam jobs: caption and text stages, the jobs that assemble them, and the demo kit."""
