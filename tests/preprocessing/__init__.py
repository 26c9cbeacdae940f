"""Tests of the top-level ``preprocessing/``."""
