"""Tests of ``slimcls/workflow/``."""
