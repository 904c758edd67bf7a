"""Objectives: contrastive and distillation losses, masked modelling, matching."""
