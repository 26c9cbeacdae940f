"""Foundation: compat (tf-slim on today's TensorFlow), errors, file I/O, disk space, locking, logs."""
