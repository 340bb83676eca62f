"""Reading images into results: the one path every front end (CLI, batch jobs, HTTP app, Lambda, Python API)
goes through. Torch-free."""
from textrec.reading.reader import MODES, CropResult, Reader, check_mode, result_dict

__all__ = ["MODES", "CropResult", "Reader", "check_mode", "result_dict"]
