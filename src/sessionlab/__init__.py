"""Session Engineering Lab: one persistent, loss-free Claude Code session."""

__version__ = "0.1.0"
