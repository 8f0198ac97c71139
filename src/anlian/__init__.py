"""Anlian 安链: safety-production management."""

__version__ = "0.1.0"
