"""A strict reader for the small YAML subset our deployment files use (PyYAML is not installed).

Supported: block mappings and sequences by indentation (spaces only), plain,
single- and double-quoted scalars, JSON-style flow sequences, comments,
anchors on block values (``&name``), aliases (``*name``) and merge keys
(``<<: *name``).  Anything else -- tabs, flow mappings, block scalars,
duplicate keys, odd indentation -- raises :class:`YamlError`, so a file
that parses here is plain enough to mean the same to Docker Compose.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass

_KEY = re.compile(r'^(?P<key>"[^"]*"|[A-Za-z0-9_.<$/-][^:]*?)\s*:(?:\s+(?P<rest>.*))?$')


class YamlError(ValueError):
    pass


@dataclass
class _Line:
    number: int
    indent: int
    text: str


def _strip_comment(text: str) -> str:
    quote = None
    for index, char in enumerate(text):
        if quote:
            if char == quote:
                quote = None
        elif char in "\"'":
            quote = char
        elif char == "#" and (index == 0 or text[index - 1] in " \t"):
            return text[:index].rstrip()
    return text.rstrip()


def _lines(source: str) -> list[_Line]:
    lines = []
    for number, raw in enumerate(source.splitlines(), start=1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise YamlError(f"line {number}: tab in indentation")
        text = _strip_comment(raw)
        if text.strip():
            lines.append(_Line(number, len(text) - len(text.lstrip(" ")), text.strip()))
    return lines


def load(source: str):
    lines = _lines(source)
    if not lines:
        return None
    reader = _Reader(lines)
    value = reader.block(0, lines[0].indent)
    if reader.pos != len(lines):
        raise YamlError(f"line {lines[reader.pos].number}: unexpected indentation")
    return value


class _Reader:
    def __init__(self, lines: list[_Line]) -> None:
        self.lines = lines
        self.pos = 0
        self.anchors: dict[str, object] = {}

    def block(self, pos: int, indent: int):
        self.pos = pos
        if self.lines[pos].text == "-" or self.lines[pos].text.startswith("- "):
            return self.sequence(indent)
        return self.mapping(indent)

    def _nested_or_scalar(self, rest: str, line: _Line):
        anchor = None
        if rest.startswith("&"):
            anchor, _, rest = rest.partition(" ")
            anchor, rest = anchor[1:], rest.strip()
        if rest:
            value = self.scalar(rest, line)
            self.pos += 1
        else:
            self.pos += 1
            if self.pos < len(self.lines) and self.lines[self.pos].indent > line.indent:
                value = self.block(self.pos, self.lines[self.pos].indent)
            else:
                value = None
        if anchor:
            self.anchors[anchor] = value
        return value

    def mapping(self, indent: int) -> dict:
        result: dict = {}
        explicit: set[str] = set()
        while self.pos < len(self.lines) and self.lines[self.pos].indent == indent:
            line = self.lines[self.pos]
            match = _KEY.match(line.text)
            if not match or line.text.startswith("- "):
                raise YamlError(f"line {line.number}: expected 'key: value', got {line.text!r}")
            key = match.group("key")
            key = json.loads(key) if key.startswith('"') else key
            value = self._nested_or_scalar((match.group("rest") or "").strip(), line)
            if key == "<<":
                if not isinstance(value, dict):
                    raise YamlError(f"line {line.number}: merge key needs a mapping alias")
                for merged_key, merged_value in value.items():
                    if merged_key not in explicit:
                        result[merged_key] = copy.deepcopy(merged_value)
                continue
            if key in explicit:
                raise YamlError(f"line {line.number}: duplicate key {key!r}")
            explicit.add(key)
            result[key] = value
        if self.pos < len(self.lines) and self.lines[self.pos].indent > indent:
            raise YamlError(f"line {self.lines[self.pos].number}: unexpected indentation")
        return result

    def sequence(self, indent: int) -> list:
        result = []
        while self.pos < len(self.lines) and self.lines[self.pos].indent == indent:
            line = self.lines[self.pos]
            if not line.text.startswith("- "):
                raise YamlError(f"line {line.number}: expected '- item', got {line.text!r}")
            item = line.text[2:].strip()
            if _KEY.match(item) and not item.startswith(('"', "'")):
                raise YamlError(f"line {line.number}: mappings inside sequences are not supported")
            result.append(self.scalar(item, line))
            self.pos += 1
        return result

    def scalar(self, text: str, line: _Line):
        try:
            if text.startswith("*"):
                return copy.deepcopy(self.anchors[text[1:]])
            if text.startswith("["):
                return json.loads(text)
            if text.startswith('"'):
                return json.loads(text)
        except (KeyError, json.JSONDecodeError) as exc:
            raise YamlError(f"line {line.number}: {exc}") from exc
        if text.startswith("'"):
            if not text.endswith("'") or len(text) < 2:
                raise YamlError(f"line {line.number}: unterminated quote")
            return text[1:-1].replace("''", "'")
        if text.startswith(("{", "|", ">", "&", "!", "%", "@", "`")):
            raise YamlError(f"line {line.number}: unsupported YAML {text[:10]!r}")
        if text in ("true", "false"):
            return text == "true"
        if text in ("null", "~"):
            return None
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if ": " in text or text.endswith(":"):
            raise YamlError(f"line {line.number}: ':' in a plain scalar; quote it")
        return text
