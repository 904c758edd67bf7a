"""The training loop: run assembly, steps, checkpoints, distributed set-up, metrics, optimisers."""
