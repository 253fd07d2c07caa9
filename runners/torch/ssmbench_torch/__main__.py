"""Entry point: ``python3 -m ssmbench_torch`` speaks the runner protocol on stdin/stdout.

stdout carries protocol messages only: the original stdout is kept for them
and file descriptor 1 is pointed at stderr, so anything else that prints
(libraries, compilers) lands in stderr.
"""

import io
import os
import sys


def main():
    proto_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    out = io.open(proto_fd, "w", encoding="utf-8", buffering=1, newline="\n")
    inp = io.open(sys.stdin.fileno(), "r", encoding="utf-8", newline="\n", closefd=False)
    from .protocol import Server
    from .worker import Log, TorchBackend
    log = Log()
    backend = TorchBackend(log=log, device=os.environ.get("SSMBENCH_TORCH_DEVICE") or None)
    server = Server(backend, inp, out)
    log.server = server
    code = server.serve()
    out.flush()
    return code


if __name__ == "__main__":
    sys.exit(main())
