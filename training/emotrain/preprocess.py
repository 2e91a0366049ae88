"""The one preprocessing contract shared with the Rust app (written into the ONNX metadata).

A face is a 48x48 grey uint8 image; the network sees (pixel * PIXEL_SCALE - MEAN) / STD, NCHW.
"""
import numpy as np
import torch

INPUT_SIZE = 48
PIXEL_SCALE = 1.0 / 255.0
MEAN = 0.5
STD = 0.5


def normalize(faces_u8: torch.Tensor) -> torch.Tensor:
    """(N, 48, 48) uint8 tensor -> (N, 1, 48, 48) float32 network input."""
    return (faces_u8.float().unsqueeze(1) * PIXEL_SCALE - MEAN) / STD


def to_tensor(images_u8: np.ndarray) -> torch.Tensor:
    """(N, 48, 48) uint8 array -> (N, 1, 48, 48) float32 network input."""
    return normalize(torch.from_numpy(images_u8))
