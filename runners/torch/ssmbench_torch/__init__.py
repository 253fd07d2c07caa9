"""ssmbench_torch: the PyTorch GPU worker of ssmbench.

Run as ``python3 -m ssmbench_torch`` (PYTHONPATH=runners/torch); it speaks the
runner protocol (runners/protocol/PROTOCOL.md) on stdin/stdout. The modules
config, protocol and safetensors need only the standard library; the rest
needs PyTorch (and, for the fast paths, CUDA and Triton).
"""

__version__ = "0.1.0"
