"""The core: plain data, the per-frame evidence, the accumulator and detection.

numpy and numba only (zstandard for the accumulator's bytes): no files, no database, no
threads, no logging. Everything here can be tested and reused without a photo on disk;
``tests/test_layers.py`` holds it to that.
"""
