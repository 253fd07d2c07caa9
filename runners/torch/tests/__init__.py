"""Tests of the PyTorch worker. Standard-library tests run everywhere (CI);
tests that need torch skip when it is absent; GPU tests run under make gpu-test."""
