"""Training: the loop, its step, hooks, batching, data parallelism and checkpoints."""
