"""The ssmbench runner protocol, version 1 (standard library only).

See runners/protocol/PROTOCOL.md. A Server reads JSON-lines requests, calls
a backend, and writes replies. The backend is any object with the methods

    hello() -> dict           fields of the hello message (runner, device, capabilities, env)
    load(req: dict) -> (metrics, info)
    cell(req: dict) -> (metrics, info)
    rep(index: int, warmup: bool) -> metrics
    end() -> (metrics, info)
    infer(req: dict) -> (output, metrics, info)   optional; answers "infer" with "output"
    abandon()                 free the current cell after an error (optional)
    close()                   release everything before exit (optional)

An exception becomes an ``error`` reply; its status comes from classify().
"""

import json
import math
import sys
import traceback

VERSION = 1

STATUS_OOM = "oom"
STATUS_ERROR = "error"
STATUS_UNSUPPORTED = "unsupported"


class RunnerError(Exception):
    """An error with an explicit protocol status."""

    def __init__(self, status, message, detail=""):
        Exception.__init__(self, message)
        self.status, self.message, self.detail = status, message, detail


class Unsupported(RunnerError):
    """The runner cannot do what was asked (phase, dtype, profile ...)."""

    def __init__(self, message):
        RunnerError.__init__(self, STATUS_UNSUPPORTED, message)


class BadRequest(RunnerError):
    """A request is malformed; the message names the field."""

    def __init__(self, message):
        RunnerError.__init__(self, STATUS_ERROR, message)


def is_oom(exc):
    """True for device or host out-of-memory errors, a configured cap included."""
    if isinstance(exc, MemoryError):
        return True
    name = type(exc).__name__
    if name in ("OutOfMemoryError", "OutOfResources"):
        return True
    msg = str(exc)
    return ("out of memory" in msg.lower() and ("CUDA" in msg or "cuda" in msg or "alloc" in msg.lower())) \
        or "CUBLAS_STATUS_ALLOC_FAILED" in msg or "CUDNN_STATUS_ALLOC_FAILED" in msg


def classify(exc):
    """The protocol status of an exception."""
    if isinstance(exc, RunnerError):
        return exc.status
    if is_oom(exc):
        return STATUS_OOM
    return STATUS_ERROR


def _clean_metrics(m):
    out = {}
    for k, v in (m or {}).items():
        try:
            f = float(v)
        except (TypeError, ValueError):
            continue
        if math.isfinite(f):
            out[str(k)] = f
    return out


def _clean_info(i):
    return {str(k): (v if isinstance(v, str) else json.dumps(v) if isinstance(v, (dict, list)) else str(v))
            for k, v in (i or {}).items()}


OUTPUT_FIELDS = ("text", "prompt_tokens", "image_tokens", "generated_tokens", "stop_reason")


def check_output(out):
    """The output object of an "output" reply: exactly its five fields, checked as the engine checks them."""
    if not isinstance(out, dict):
        raise RunnerError(STATUS_ERROR, "backend returned no output object")
    missing = [k for k in OUTPUT_FIELDS if k not in out]
    if missing:
        raise RunnerError(STATUS_ERROR, "backend output lacks %s" % ", ".join(missing))
    o = {"text": out["text"], "prompt_tokens": out["prompt_tokens"], "image_tokens": out["image_tokens"],
         "generated_tokens": out["generated_tokens"], "stop_reason": out["stop_reason"]}
    if not isinstance(o["text"], str):
        raise RunnerError(STATUS_ERROR, "output.text is not a string")
    for k in ("prompt_tokens", "image_tokens", "generated_tokens"):
        if isinstance(o[k], bool) or not isinstance(o[k], int) or o[k] < 0:
            raise RunnerError(STATUS_ERROR, "output.%s must be an integer >= 0, got %r" % (k, o[k]))
    if o["stop_reason"] not in ("stop", "length"):
        raise RunnerError(STATUS_ERROR, "output.stop_reason %r is not \"stop\" or \"length\"" % (o["stop_reason"],))
    return o


class Server(object):
    """Answers protocol requests from inp (text lines) on out (text stream)."""

    def __init__(self, backend, inp, out, err=None):
        self.backend, self.inp, self.out = backend, inp, out
        self.err = err if err is not None else sys.stderr
        self.loaded = False
        self.in_cell = False
        self._closed = False

    def send(self, msg):
        """Write one message as a JSON line and flush."""
        self.out.write(json.dumps(msg, separators=(",", ":"), allow_nan=False) + "\n")
        self.out.flush()

    def log(self, level, message):
        """Send a log message (the engine shows and records it)."""
        self.send({"type": "log", "level": level, "message": message})

    def _error(self, rid, exc):
        status = classify(exc)
        detail = exc.detail if isinstance(exc, RunnerError) else traceback.format_exc()
        msg = exc.message if isinstance(exc, RunnerError) else "%s: %s" % (type(exc).__name__, exc)
        self.err.write("[ssmbench_torch] error (%s): %s\n%s\n" % (status, msg, detail if status != STATUS_UNSUPPORTED else ""))
        self.err.flush()
        reply = {"type": "error", "status": status, "message": msg[:4000], "detail": detail[-8000:]}
        if rid:
            reply["id"] = rid
        return reply

    def serve(self):
        """Say hello, then answer requests until shutdown or end of input. Returns an exit code."""
        hello = dict(self.backend.hello())
        hello["type"], hello["protocol"] = "hello", VERSION
        self.send(hello)
        try:
            for line in self.inp:
                line = line.strip()
                if not line:
                    continue
                try:
                    req = json.loads(line)
                    if not isinstance(req, dict) or not isinstance(req.get("type"), str):
                        raise BadRequest("request is not a JSON object with a type")
                except (ValueError, BadRequest) as e:
                    self.send(self._error("", e if isinstance(e, RunnerError) else BadRequest("malformed request: %s" % e)))
                    continue
                if req["type"] == "shutdown":
                    self._close()
                    self.send({"type": "bye"})
                    return 0
                self.send(self.dispatch(req))
        finally:
            self._close()
        return 0

    def _close(self):
        if self._closed:
            return
        self._closed = True
        close = getattr(self.backend, "close", None)
        if close is not None:
            try:
                close()
            except Exception:  # noqa: BLE001 - exiting anyway
                traceback.print_exc(file=self.err)

    def dispatch(self, req):
        """Answer one request (not shutdown) with a reply message."""
        t, rid = req.get("type"), req.get("id") or ""
        try:
            if not rid:
                raise BadRequest("%s request lacks id" % t)
            if t == "load":
                body = req.get("load")
                if not isinstance(body, dict):
                    raise BadRequest("load request lacks load")
                self.loaded = False
                met, info = self.backend.load(body)
                self.loaded = True
                return {"type": "loaded", "id": rid, "metrics": _clean_metrics(met), "info": _clean_info(info)}
            if t == "cell":
                body = req.get("cell")
                if not isinstance(body, dict):
                    raise BadRequest("cell request lacks cell")
                if not self.loaded:
                    raise BadRequest("cell before a successful load")
                self.in_cell = False
                met, info = self.backend.cell(body)
                self.in_cell = True
                return {"type": "ready", "id": rid, "metrics": _clean_metrics(met), "info": _clean_info(info)}
            if t == "rep":
                if not self.in_cell:
                    raise BadRequest("rep outside a cell")
                idx = req.get("index", 0)
                met = self.backend.rep(int(idx or 0), bool(req.get("warmup", False)))
                reply = {"type": "sample", "id": rid, "index": int(idx or 0), "metrics": _clean_metrics(met)}
                if req.get("warmup"):
                    reply["warmup"] = True
                return reply
            if t == "end":
                if not self.in_cell:
                    raise BadRequest("end outside a cell")
                self.in_cell = False
                met, info = self.backend.end()
                return {"type": "result", "id": rid, "metrics": _clean_metrics(met), "info": _clean_info(info)}
            if t == "infer":
                body = req.get("infer")
                if not isinstance(body, dict):
                    raise BadRequest("infer request lacks infer")
                infer = getattr(self.backend, "infer", None)
                if infer is None:
                    raise Unsupported("this runner does not answer infer requests")
                if not self.loaded:
                    raise BadRequest("infer before a successful load")
                if self.in_cell:
                    raise BadRequest("infer inside a cell (send end first)")
                out, met, info = infer(body)
                return {"type": "output", "id": rid, "output": check_output(out),
                        "metrics": _clean_metrics(met), "info": _clean_info(info)}
            raise Unsupported("request type %r is not handled by this runner" % t)
        except Exception as e:  # noqa: BLE001 - every failure becomes an error reply
            reply = self._error(rid, e)
            if t in ("cell", "rep", "end"):
                self.in_cell = False
                abandon = getattr(self.backend, "abandon", None)
                if abandon is not None:
                    try:
                        abandon()
                    except Exception:  # noqa: BLE001
                        traceback.print_exc(file=self.err)
            return reply
