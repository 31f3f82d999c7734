"""mathformer: a replication of F. Charton (2022), "What is my math transformer doing?" (README.md)."""

__version__ = "0.1.0"
