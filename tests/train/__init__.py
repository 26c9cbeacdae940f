"""Tests of ``slimcls/train/``."""
