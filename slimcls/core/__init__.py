"""Foundation: compat (tf-slim on today's TensorFlow), errors, file I/O, file systems, disk
space, locking, logs, signals."""
