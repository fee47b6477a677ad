"""Build each URL rule's builder once per test process, not once per app.

Every test builds at least one app, and werkzeug compiles two small Python functions (``ast`` + ``compile``)
for each of the app's ~550 URL rules every time: 90 % of ``create_app`` (about 0.2 s of CPU per app, some
six minutes of a full run).  The compiled builder is a pure function of the rule's text, its parsed parts
and the names of its defaults; it reaches the rule's converters only through its ``.self`` argument at call
time.  So the same function serves every app's copy of the rule, and this memo hands it back instead of
compiling it again.  Rules whose defaults fill a dynamic part (the value is folded in at compile time) are
compiled as usual.  Production is untouched: it builds one app per process.
"""
from __future__ import annotations

from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_builders: dict = {}


def _memo_compile_builder(self: Rule, append_unknown: bool = True):
    defaults = self.defaults or {}
    if any(is_dynamic and data in defaults for is_dynamic, data in self._trace):
        return _compile_builder(self, append_unknown)
    key = (self.rule, tuple(self._trace), tuple(defaults), append_unknown)
    builder = _builders.get(key)
    if builder is None:
        builder = _builders[key] = _compile_builder(self, append_unknown)
    return builder


def install() -> None:
    Rule._compile_builder = _memo_compile_builder
