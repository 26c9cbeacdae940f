"""Tests of the project as a whole: docs, scripts, benchmarks, the quickstart, TF-Slim's names
and recipes."""
