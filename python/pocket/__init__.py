"""Python bindings for libpocket: run small language models locally.

A thin layer over the C API (include/pocket.h) through ctypes, so it needs nothing but Python's
standard library and libpocket.so. Every C failure becomes a PocketError carrying the status and
the library's message.

    import pocket
    with pocket.Model("model.gguf") as model:
        session = pocket.Session(model)
        for piece in session.stream("Once upon a time", max_tokens=64, temperature=0):
            print(piece, end="", flush=True)

The library is found, in order, at $POCKET_LIBRARY, next to this package as installed by
`cmake --install` (see _library_candidates), then by the system loader ("libpocket.so.0").
"""

from __future__ import annotations

import ctypes
import json
import os
import queue
import threading
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, List, Optional, Sequence, Tuple

__all__ = [
    "PocketError", "Model", "Adapter", "Session", "Generation", "Embedder", "Index", "SearchHit",
    "Guard", "Verdict", "version", "api_version", "set_threads", "threads", "set_isa", "isa",
]

API_VERSION = 4  # the POCKET_API_VERSION these bindings were written for

RANDOM_SEED = (1 << 64) - 1


class PocketError(RuntimeError):
    """A libpocket call failed: `status` is the pocket_status code, the message says why."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def _library_candidates() -> List[str]:
    candidates = []
    if os.environ.get("POCKET_LIBRARY"):
        candidates.append(os.environ["POCKET_LIBRARY"])
    here = os.path.dirname(os.path.abspath(__file__))
    # Installed layout: <prefix>/<libdir>/python3/dist-packages/pocket/ beside <prefix>/<libdir>/.
    # _install_paths.py (written at install time) says where libdir is relative to this folder.
    try:
        from . import _install_paths  # type: ignore

        candidates.append(os.path.normpath(os.path.join(here, _install_paths.LIBRARY)))
    except ImportError:
        pass
    candidates.append("libpocket.so.0")
    return candidates


def _load_library() -> ctypes.CDLL:
    errors = []
    for candidate in _library_candidates():
        try:
            return ctypes.CDLL(candidate)
        except OSError as e:
            errors.append(f"{candidate}: {e}")
    raise ImportError("cannot load libpocket: " + "; ".join(errors))


_lib = _load_library()

_c_char_p = ctypes.c_char_p
_size_t = ctypes.c_size_t
_TEXT_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_char), _size_t,
                                  ctypes.c_void_p)


class _ModelOptions(ctypes.Structure):
    _fields_ = [("struct_size", _size_t), ("interleave", ctypes.c_int)]


class _SessionOptions(ctypes.Structure):
    _fields_ = [("struct_size", _size_t), ("n_ctx", ctypes.c_int64), ("n_batch", ctypes.c_int64),
                ("system_prompt", _c_char_p), ("chat_template", _c_char_p),
                ("cache_type_k", _c_char_p), ("cache_type_v", _c_char_p)]


class _GenerateOptions(ctypes.Structure):
    _fields_ = [("struct_size", _size_t), ("max_tokens", ctypes.c_int64),
                ("temperature", ctypes.c_float), ("top_k", ctypes.c_int32),
                ("top_p", ctypes.c_float), ("min_p", ctypes.c_float),
                ("repeat_penalty", ctypes.c_float), ("repeat_last_n", ctypes.c_int32),
                ("frequency_penalty", ctypes.c_float), ("presence_penalty", ctypes.c_float),
                ("seed", ctypes.c_uint64), ("stop", ctypes.POINTER(_c_char_p)),
                ("n_stop", _size_t), ("grammar", _c_char_p), ("json_schema", _c_char_p),
                ("json_object", ctypes.c_int), ("ignore_eos", ctypes.c_int)]


class _Generation(ctypes.Structure):
    _fields_ = [("struct_size", _size_t), ("finish", ctypes.c_int),
                ("text", ctypes.POINTER(ctypes.c_char)), ("text_length", _size_t),
                ("prompt_tokens", ctypes.c_int64), ("reused_tokens", ctypes.c_int64),
                ("completion_tokens", ctypes.c_int64), ("prompt_ms", ctypes.c_double),
                ("generate_ms", ctypes.c_double), ("seed", ctypes.c_uint64)]


class _SearchHit(ctypes.Structure):
    _fields_ = [("path", _c_char_p), ("heading", _c_char_p), ("text", _c_char_p),
                ("page", ctypes.c_int32), ("score", ctypes.c_double),
                ("relevance", ctypes.c_double)]


class _GuardVerdict(ctypes.Structure):
    _fields_ = [("safe", ctypes.c_int), ("score", ctypes.c_double),
                ("categories", ctypes.c_uint32)]


def _declare(name, restype, *argtypes):
    function = getattr(_lib, name)
    function.restype = restype
    function.argtypes = list(argtypes)
    return function


_vp = ctypes.c_void_p
_status = ctypes.c_int
_version = _declare("pocket_version", _c_char_p)
_api_version = _declare("pocket_api_version", ctypes.c_int)
_last_error = _declare("pocket_last_error", _c_char_p)
_set_threads = _declare("pocket_set_threads", _status, ctypes.c_int)
_threads = _declare("pocket_threads", ctypes.c_int)
_set_isa = _declare("pocket_set_isa", _status, _c_char_p)
_isa = _declare("pocket_isa", _c_char_p)
_model_options_init = _declare("pocket_model_options_init", _status,
    ctypes.POINTER(_ModelOptions), _size_t)
_model_load = _declare("pocket_model_load", _status, _c_char_p, ctypes.POINTER(_ModelOptions),
                       ctypes.POINTER(_vp))
_model_free = _declare("pocket_model_free", None, _vp)
_model_architecture = _declare("pocket_model_architecture", _c_char_p, _vp)
_model_name = _declare("pocket_model_name", _c_char_p, _vp)
_model_n_params = _declare("pocket_model_n_params", ctypes.c_int64, _vp)
_model_n_ctx_train = _declare("pocket_model_n_ctx_train", ctypes.c_int64, _vp)
_model_n_vocab = _declare("pocket_model_n_vocab", ctypes.c_int32, _vp)
_tokenize = _declare("pocket_tokenize", _status, _vp, ctypes.c_char_p, ctypes.c_int64,
                     ctypes.c_int, ctypes.c_int, ctypes.POINTER(ctypes.c_int32), _size_t,
                     ctypes.POINTER(_size_t))
_detokenize = _declare("pocket_detokenize", _status, _vp, ctypes.POINTER(ctypes.c_int32),
                       _size_t, ctypes.c_int, ctypes.c_char_p, _size_t, ctypes.POINTER(_size_t))
_session_options_init = _declare("pocket_session_options_init", _status,
    ctypes.POINTER(_SessionOptions), _size_t)
_session_create = _declare("pocket_session_create", _status, _vp,
                           ctypes.POINTER(_SessionOptions), ctypes.POINTER(_vp))
_session_free = _declare("pocket_session_free", None, _vp)
_generate_options_init = _declare("pocket_generate_options_init", _status,
    ctypes.POINTER(_GenerateOptions), _size_t)
_session_generate = _declare("pocket_session_generate", _status, _vp, _c_char_p,
                             ctypes.POINTER(_GenerateOptions), _TEXT_CALLBACK, _vp,
                             ctypes.POINTER(_Generation))
_session_chat = _declare("pocket_session_chat", _status, _vp, _c_char_p,
                         ctypes.POINTER(_GenerateOptions), _TEXT_CALLBACK, _vp,
                         ctypes.POINTER(_Generation))
_session_add_message = _declare("pocket_session_add_message", _status, _vp, _c_char_p, _c_char_p)
_session_conversation_json = _declare("pocket_session_conversation_json", _c_char_p, _vp)
_session_reset = _declare("pocket_session_reset", _status, _vp)
_session_cancel = _declare("pocket_session_cancel", None, _vp)
_adapter_load = _declare("pocket_adapter_load", _status, _vp, _c_char_p, ctypes.POINTER(_vp))
_adapter_free = _declare("pocket_adapter_free", None, _vp)
_session_set_adapters = _declare("pocket_session_set_adapters", _status, _vp,
                                 ctypes.POINTER(_vp), ctypes.POINTER(ctypes.c_float), _size_t)
_embedder_load = _declare("pocket_embedder_load", _status, _c_char_p, ctypes.POINTER(_vp))
_embedder_free = _declare("pocket_embedder_free", None, _vp)
_embedder_dim = _declare("pocket_embedder_dim", _size_t, _vp)
_embed = _declare("pocket_embed", _status, _vp, _c_char_p, ctypes.POINTER(ctypes.c_float), _size_t)
_index_open = _declare("pocket_index_open", _status, _c_char_p, _vp, ctypes.POINTER(_vp))
_index_free = _declare("pocket_index_free", None, _vp)
_index_add_folder = _declare("pocket_index_add_folder", _status, _vp, _c_char_p,
                             ctypes.POINTER(_size_t))
_index_search = _declare("pocket_index_search", _status, _vp, _c_char_p, ctypes.c_int,
                         ctypes.c_int, ctypes.POINTER(_SearchHit), _size_t,
                         ctypes.POINTER(_size_t))
_guard_load = _declare("pocket_guard_load", _status, _c_char_p, ctypes.POINTER(_vp))
_guard_free = _declare("pocket_guard_free", None, _vp)
_guard_check = _declare("pocket_guard_check", _status, _vp, _c_char_p, _c_char_p,
                        ctypes.POINTER(_GuardVerdict))

_BUFFER_TOO_SMALL = 5

if _api_version() < API_VERSION:
    raise ImportError(f"libpocket API version {_api_version()} is older than these bindings' "
                      f"{API_VERSION}")


def _check(status: int) -> None:
    if status != 0:
        raise PocketError(status, _last_error().decode("utf-8", "replace"))


def _defaults(struct, init):
    """An options struct filled by the library's pocket_*_options_init at this module's size."""
    options = struct()
    _check(init(ctypes.byref(options), ctypes.sizeof(struct)))
    return options


def _bytes(text: str) -> bytes:
    return text.encode("utf-8")


def version() -> str:
    return _version().decode()


def api_version() -> int:
    return _api_version()


def set_threads(n: int) -> None:
    """Threads the kernels use (0 = physical cores)."""
    _check(_set_threads(n))


def threads() -> int:
    return _threads()


def set_isa(name: str) -> None:
    """"auto", "scalar", "avx2", "avx512" or "neon"; only while no model is loaded."""
    _check(_set_isa(_bytes(name)))


def isa() -> str:
    return _isa().decode()


class _Handle:
    """Owns one C handle; close() (or leaving a with block) frees it."""

    _free: Callable = None  # type: ignore

    def __init__(self):
        self._handle = _vp()

    def close(self) -> None:
        if self._handle:
            type(self)._free(self._handle)
            self._handle = _vp()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass

    def _require_open(self):
        if not self._handle:
            raise ValueError(f"{type(self).__name__} is closed")
        return self._handle


class Model(_Handle):
    """A loaded model (GGUF file or Hugging Face folder). Immutable: share it across threads."""

    _free = _model_free

    def __init__(self, path: str, interleave: bool = True):
        super().__init__()
        options = _defaults(_ModelOptions, _model_options_init)
        options.interleave = 1 if interleave else 0
        _check(_model_load(_bytes(os.fspath(path)), ctypes.byref(options),
                           ctypes.byref(self._handle)))

    @property
    def architecture(self) -> str:
        return _model_architecture(self._require_open()).decode()

    @property
    def name(self) -> str:
        return _model_name(self._require_open()).decode("utf-8", "replace")

    @property
    def n_params(self) -> int:
        return _model_n_params(self._require_open())

    @property
    def n_ctx_train(self) -> int:
        return _model_n_ctx_train(self._require_open())

    @property
    def n_vocab(self) -> int:
        return _model_n_vocab(self._require_open())

    def tokenize(self, text: str, add_special: bool = True, parse_special: bool = False) -> List[int]:
        data = _bytes(text)
        n = _size_t(0)
        status = _tokenize(self._require_open(), data, len(data), int(add_special),
                           int(parse_special), None, 0, ctypes.byref(n))
        if status not in (0, _BUFFER_TOO_SMALL):
            _check(status)
        ids = (ctypes.c_int32 * n.value)()
        _check(_tokenize(self._handle, data, len(data), int(add_special), int(parse_special), ids,
                         n.value, ctypes.byref(n)))
        return list(ids[:n.value])

    def detokenize(self, tokens: Sequence[int], remove_special: bool = True) -> str:
        ids = (ctypes.c_int32 * len(tokens))(*tokens)
        length = _size_t(0)
        status = _detokenize(self._require_open(), ids, len(tokens), int(remove_special), None, 0,
                             ctypes.byref(length))
        if status not in (0, _BUFFER_TOO_SMALL):
            _check(status)
        buffer = ctypes.create_string_buffer(length.value + 1)
        _check(_detokenize(self._handle, ids, len(tokens), int(remove_special), buffer,
                           length.value + 1, ctypes.byref(length)))
        return buffer.raw[:length.value].decode("utf-8", "replace")

    def load_adapter(self, path: str) -> "Adapter":
        """A LoRA adapter file for this model (see Adapter)."""
        return Adapter(self, path)


class Adapter(_Handle):
    """A LoRA adapter (llama.cpp's adapter GGUF, as `pocket finetune` writes it) checked against
    `model`. Immutable: any number of that model's sessions may use it, on any threads
    (Session.set_adapters). Closing it while sessions use it is safe: they keep it alive."""

    _free = _adapter_free

    def __init__(self, model: Model, path: str):
        super().__init__()
        self._model = model  # keep the model alive as long as the adapter
        _check(_adapter_load(model._require_open(), _bytes(os.fspath(path)),
                             ctypes.byref(self._handle)))


_FINISH = {0: "length", 1: "eos", 2: "stop", 3: "cancelled"}


@dataclass
class Generation:
    text: str
    finish: str  # "length", "eos", "stop" or "cancelled"
    prompt_tokens: int
    reused_tokens: int
    completion_tokens: int
    prompt_ms: float
    generate_ms: float
    seed: int


class _Utf8Pieces:
    """Pieces from the C callback are complete UTF-8 each; decode them one by one."""

    @staticmethod
    def decode(piece_pointer, length) -> str:
        return ctypes.string_at(piece_pointer, length).decode("utf-8", "replace")


class Session(_Handle):
    """One conversation (its own KV cache) over a model. One thread at a time, except cancel()."""

    _free = _session_free

    def __init__(self, model: Model, n_ctx: int = 0, n_batch: int = 512,
                 system: Optional[str] = None, chat_template: Optional[str] = None,
                 cache_type_k: str = "f16", cache_type_v: str = "f16"):
        super().__init__()
        self._model = model  # keep the model alive as long as the session
        options = _defaults(_SessionOptions, _session_options_init)
        options.n_ctx = n_ctx
        options.n_batch = n_batch
        options.system_prompt = _bytes(system) if system is not None else None
        options.chat_template = _bytes(chat_template) if chat_template is not None else None
        # KV cache storage: "f16", "q8_0" (half the memory) or "q4_0".
        options.cache_type_k = _bytes(cache_type_k)
        options.cache_type_v = _bytes(cache_type_v)
        _check(_session_create(model._require_open(), ctypes.byref(options),
                               ctypes.byref(self._handle)))

    @staticmethod
    def _options(max_tokens=256, temperature=None, top_k=None, top_p=None, min_p=None,
                 repeat_penalty=None, seed=None, stop=(), grammar=None, json_schema=None,
                 json_object=False, ignore_eos=False):
        o = _defaults(_GenerateOptions, _generate_options_init)
        o.max_tokens = max_tokens
        for name, value in (("temperature", temperature), ("top_k", top_k), ("top_p", top_p),
                            ("min_p", min_p), ("repeat_penalty", repeat_penalty), ("seed", seed)):
            if value is not None:
                setattr(o, name, value)
        keep = []
        if stop:
            array = (_c_char_p * len(stop))(*[_bytes(s) for s in stop])
            keep.append(array)
            o.stop = ctypes.cast(array, ctypes.POINTER(_c_char_p))
            o.n_stop = len(stop)
        if grammar is not None:
            o.grammar = _bytes(grammar)
        if json_schema is not None:
            o.json_schema = _bytes(json_schema if isinstance(json_schema, str)
                                   else json.dumps(json_schema))
        o.json_object = int(bool(json_object))
        o.ignore_eos = int(bool(ignore_eos))
        return o, keep

    def _run(self, function, text: str, on_text, options) -> Generation:
        o, keep = self._options(**options)
        errors = []

        def trampoline(pointer, length, _user):
            if on_text is None:
                return 0
            try:
                return 1 if on_text(_Utf8Pieces.decode(pointer, length)) is False else 0
            except BaseException as e:  # stop generating, re-raise after the call
                errors.append(e)
                return 1

        callback = _TEXT_CALLBACK(trampoline)
        result = _Generation()
        result.struct_size = ctypes.sizeof(_Generation)
        status = function(self._require_open(), _bytes(text), ctypes.byref(o), callback, None,
                          ctypes.byref(result))
        del keep
        if errors:
            raise errors[0]
        _check(status)
        return Generation(
            text=ctypes.string_at(result.text, result.text_length).decode("utf-8", "replace"),
            finish=_FINISH.get(result.finish, "length"), prompt_tokens=result.prompt_tokens,
            reused_tokens=result.reused_tokens, completion_tokens=result.completion_tokens,
            prompt_ms=result.prompt_ms, generate_ms=result.generate_ms, seed=result.seed)

    def generate(self, prompt: str, on_text: Optional[Callable[[str], object]] = None,
                 **options) -> Generation:
        """Continues `prompt` (plain text, no chat template). on_text gets each piece as it is
        generated; returning False from it stops the generation. Options: max_tokens,
        temperature, top_k, top_p, min_p, repeat_penalty, seed, stop, grammar, json_schema,
        json_object, ignore_eos."""
        return self._run(_session_generate, prompt, on_text, options)

    def chat(self, message: str, on_text: Optional[Callable[[str], object]] = None,
             **options) -> Generation:
        """One chat turn with the model's chat template; the reply joins the conversation."""
        return self._run(_session_chat, message, on_text, options)

    def stream(self, prompt: str, chat: bool = False, **options) -> Iterator[str]:
        """Yields the generated pieces as they come (the generation runs on a worker thread;
        closing the iterator early cancels it)."""
        pieces: "queue.Queue" = queue.Queue()
        done = object()
        outcome = {}

        def work():
            try:
                run = self.chat if chat else self.generate
                outcome["result"] = run(prompt, on_text=pieces.put, **options)
            except BaseException as e:
                outcome["error"] = e
            finally:
                pieces.put(done)

        worker = threading.Thread(target=work, daemon=True)
        worker.start()
        try:
            while True:
                piece = pieces.get()
                if piece is done:
                    break
                yield piece
        finally:
            self.cancel()
            worker.join()
        if "error" in outcome:
            raise outcome["error"]

    def add_message(self, role: str, content: str) -> None:
        _check(_session_add_message(self._require_open(), _bytes(role), _bytes(content)))

    @property
    def conversation(self) -> dict:
        return json.loads(_session_conversation_json(self._require_open()).decode("utf-8"))

    def reset(self) -> None:
        _check(_session_reset(self._require_open()))

    def set_adapters(self, adapters: Iterable[Tuple[Adapter, float]]) -> None:
        """Applies these (adapter, scale) pairs, replacing the session's adapters ([] removes
        them). Each must be an Adapter of this session's model. A change drops the cached
        tokens (the conversation stays and is evaluated again with the new adapters)."""
        pairs = list(adapters)
        handles = (_vp * len(pairs))(*[adapter._require_open() for adapter, _ in pairs])
        scales = (ctypes.c_float * len(pairs))(*[float(scale) for _, scale in pairs])
        # The library shares each adapter with the session: closing an Adapter later is safe.
        _check(_session_set_adapters(self._require_open(), handles, scales, len(pairs)))

    def cancel(self) -> None:
        """Stops a running generation; safe from any thread."""
        if self._handle:
            _session_cancel(self._handle)


class Embedder(_Handle):
    """A text embedding model (Model2Vec folder or embedding GGUF); thread-safe."""

    _free = _embedder_free

    def __init__(self, path: str):
        super().__init__()
        _check(_embedder_load(_bytes(os.fspath(path)), ctypes.byref(self._handle)))

    @property
    def dim(self) -> int:
        return _embedder_dim(self._require_open())

    def embed(self, text: str) -> List[float]:
        n = self.dim
        out = (ctypes.c_float * n)()
        _check(_embed(self._handle, _bytes(text), out, n))
        return list(out)


@dataclass
class SearchHit:
    path: str
    heading: str
    text: str
    page: int
    score: float
    relevance: float


_MODES = {"hybrid": 0, "bm25": 1, "vector": 2}


class Index(_Handle):
    """A local document index (SQLite): add folders, search them. One thread at a time."""

    _free = _index_free

    def __init__(self, db_path: str, embedder: Optional[Embedder] = None):
        super().__init__()
        self._embedder = embedder
        handle = embedder._require_open() if embedder is not None else None
        _check(_index_open(_bytes(os.fspath(db_path)), handle, ctypes.byref(self._handle)))

    def add_folder(self, folder: str) -> int:
        """Indexes new and changed files under `folder`; returns the chunks written."""
        n = _size_t(0)
        _check(_index_add_folder(self._require_open(), _bytes(os.fspath(folder)), ctypes.byref(n)))
        return n.value

    def search(self, query: str, k: int = 5, mode: str = "hybrid") -> List[SearchHit]:
        if mode not in _MODES:
            raise ValueError(f"mode must be one of {sorted(_MODES)}")
        hits = (_SearchHit * k)()
        n = _size_t(0)
        _check(_index_search(self._require_open(), _bytes(query), k, _MODES[mode], hits, k,
                             ctypes.byref(n)))
        text = lambda b: b.decode("utf-8", "replace") if b else ""
        return [SearchHit(text(h.path), text(h.heading), text(h.text), h.page, h.score,
                          h.relevance) for h in hits[:n.value]]


@dataclass
class Verdict:
    safe: bool
    score: float
    categories: List[str]  # "S1".."S14"


class Guard(_Handle):
    """The safety guard: the built-in classifier (path None) or a guard model file."""

    _free = _guard_free

    def __init__(self, path: Optional[str] = None):
        super().__init__()
        _check(_guard_load(_bytes(os.fspath(path)) if path else None, ctypes.byref(self._handle)))

    def check(self, prompt: str, response: Optional[str] = None) -> Verdict:
        v = _GuardVerdict()
        _check(_guard_check(self._require_open(), _bytes(prompt),
                            _bytes(response) if response is not None else None, ctypes.byref(v)))
        categories = [f"S{i + 1}" for i in range(14) if v.categories & (1 << i)]
        return Verdict(bool(v.safe), v.score, categories)
