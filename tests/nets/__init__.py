"""Tests of the top-level ``nets/`` (the nets, their registry and checkpoint table)."""
