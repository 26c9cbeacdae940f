"""The model: building a run's net (modeling), the TF2 wrapper (slim_model), checkpoints,
fine-tuning, published weights and a run's settings read back (run_info)."""
