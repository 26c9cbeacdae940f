"""Tests of ``slimcls/inference/``."""
