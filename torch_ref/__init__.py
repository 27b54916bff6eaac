"""PyTorch reference models with the upstream constructors and state-dict layouts (no MindSpore here)."""
