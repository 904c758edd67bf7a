"""Model stages: frozen-teacher features, the CLIP-score filter and grid features (RunInference)."""
