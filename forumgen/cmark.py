"""GitHub's cmark-gfm (the C reference implementation of CommonMark and its GFM extensions),
called through ctypes in the library that the `cmarkgfm` package ships.

cmarkgfm's own functions never free the syntax tree nor the HTML string they get from
the C library: about 35 bytes per byte of Markdown, every call, for as long as the process
lives (a cold build of a large forum would run out of memory). This binds the handful of
C functions a render needs, the freeing ones included, from the same library.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import cmarkgfm._cmark
from cmarkgfm.cmark import Options

_LIB = ctypes.CDLL(cmarkgfm._cmark.__file__)
_POINTER = ctypes.c_void_p

UNSAFE = int(Options.CMARK_OPT_UNSAFE)
"""Keep raw HTML and every link target as written (the sanitizer judges them after)."""
EXTENSIONS = ("table", "strikethrough", "autolink", "tagfilter", "tasklist")
"""The GFM extensions of the GFM spec."""


def _function(name: str, result: Any, *arguments: Any) -> Any:
    function = getattr(_LIB, name)
    function.restype = result
    function.argtypes = list(arguments)
    return function


class _Allocator(ctypes.Structure):
    """cmark_mem: the allocator whose free() must release what the library returns."""

    _fields_ = [
        ("calloc", ctypes.CFUNCTYPE(_POINTER, ctypes.c_size_t, ctypes.c_size_t)),
        ("realloc", ctypes.CFUNCTYPE(_POINTER, _POINTER, ctypes.c_size_t)),
        ("free", ctypes.CFUNCTYPE(None, _POINTER)),
    ]


_find_extension = _function("cmark_find_syntax_extension", _POINTER, ctypes.c_char_p)
_parser_new = _function("cmark_parser_new", _POINTER, ctypes.c_int)
_attach = _function("cmark_parser_attach_syntax_extension", ctypes.c_int, _POINTER, _POINTER)
_feed = _function("cmark_parser_feed", None, _POINTER, ctypes.c_char_p, ctypes.c_size_t)
_finish = _function("cmark_parser_finish", _POINTER, _POINTER)
_extensions_of = _function("cmark_parser_get_syntax_extensions", _POINTER, _POINTER)
_render_html = _function("cmark_render_html", _POINTER, _POINTER, ctypes.c_int, _POINTER)
_node_free = _function("cmark_node_free", None, _POINTER)
_parser_free = _function("cmark_parser_free", None, _POINTER)
_ALLOCATOR = _function("cmark_get_default_mem_allocator", ctypes.POINTER(_Allocator))().contents
VERSION = ctypes.string_at(_function("cmark_version_string", _POINTER)()).decode()
# Registering the extensions is not thread-safe: done once, on import.
_function("cmark_gfm_core_extensions_ensure_registered", None)()


# cmark-gfm keeps a table of the characters that start inline syntax in a global, which
# each parse changes as it attaches extensions: parses must not overlap. ctypes lets go
# of the GIL during a call, so threads would overlap them.
_LOCK = threading.Lock()


def _new_lock() -> None:
    """A forked child may inherit the lock held by a thread it does not have."""
    global _LOCK
    _LOCK = threading.Lock()


os.register_at_fork(after_in_child=_new_lock)


@lru_cache(maxsize=8)
def _extensions(names: tuple[str, ...]) -> tuple[int, ...]:
    found = []
    for name in names:
        extension = _find_extension(name.encode())
        if not extension:
            raise ValueError(f"cmark-gfm has no extension {name!r}")
        found.append(extension)
    return tuple(found)


def to_html(text: str, options: int = 0, extensions: Sequence[str] = EXTENSIONS) -> str:
    """`text` rendered by cmark-gfm with `options` (CMARK_OPT_* flags) and `extensions`."""
    data = text.encode("utf-8", "replace")  # a lone surrogate becomes '?', never an error
    attached = _extensions(tuple(extensions))
    with _LOCK:
        return _render(data, options, attached)


def _render(data: bytes, options: int, attached: tuple[int, ...]) -> str:
    parser = _parser_new(options)
    try:
        for extension in attached:
            _attach(parser, extension)
        _feed(parser, data, len(data))
        root = _finish(parser)
        try:
            html = _render_html(root, options, _extensions_of(parser))
            try:
                return ctypes.string_at(html).decode("utf-8", "replace")
            finally:
                _ALLOCATOR.free(html)
        finally:
            _node_free(root)
    finally:
        _parser_free(parser)
