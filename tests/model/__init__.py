"""Tests of ``slimcls/model/``."""
