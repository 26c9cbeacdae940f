"""Inference: evaluation (evaluate, eval_report), classification and export."""
