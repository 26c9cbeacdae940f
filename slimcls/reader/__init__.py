"""The reader: the tf.data input pipeline (read shards, per-image and batched stages)."""
