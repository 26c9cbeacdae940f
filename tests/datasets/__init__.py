"""Tests of the top-level ``datasets/`` (converters, record format, descriptors)."""
