"""Tests of ``slimcls/core/``."""
