"""Models: the registry, encoders, and one module per method's model."""
