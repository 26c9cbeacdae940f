"""Tests of ``slimcls/cli/``."""
