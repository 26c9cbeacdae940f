"""Tests of ``slimcls/config/``."""
