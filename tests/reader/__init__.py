"""Tests of ``slimcls/reader/``."""
