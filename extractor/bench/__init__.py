"""Benchmarks that ship with the package (`extractor bench ...`).

``SPEED_PATHS`` lives here rather than in ``speed.py`` so that the command line offers it as a choice
without importing torch.
"""

# What `extractor bench speed` times: the naive one-window loop, fp32 batched, and the int8 and ONNX runtimes.
SPEED_PATHS = ("naive", "fp32", "torch-int8", "onnx", "onnx-int8")
