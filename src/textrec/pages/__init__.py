"""Whole pages: detect text lines, crop them upright, recognize them in batches, put them in reading order.
numpy, Pillow, scipy and onnxruntime only (no torch), so the runtime and the server read pages too."""
