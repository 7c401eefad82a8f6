"""Sub-commands of ``sessionlab``: one module each, each exposing ``register(subparsers)``."""
