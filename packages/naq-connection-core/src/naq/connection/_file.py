"""Reading configuration from a YAML (or JSON) file.

Layout::

    nats:                      # the default connection; every key optional
      servers: [nats://a:4222, nats://b:4222]     # or one string, or comma-separated
      client_name: my-service
      password: ${NAQ_PASSWORD}                   # ${VAR} must be set (non-empty)
      connection_timeout: ${NAQ_TIMEOUT:5}        # ${VAR:default} (or ${VAR:-default})
      tls:
        ca_file: /etc/ssl/nats-ca.pem
    profiles:                  # optional; each profile inherits every key it does not set
      analytics:
        servers: nats://analytics:4222
        tls: {enabled: true}   # tls keys merge with nats.tls key by key

``$${`` writes a literal ``${``. A key set to null (``user: ~``) means the default value; in a profile
this stops the key being inherited (``user: ~`` in a token profile drops the inherited user). A file with no
``nats:`` / ``profiles:`` whose top-level keys are NatsConfig fields (the legacy flat shape, e.g. just
``servers: ...``) is read as the ``nats:`` section. Unknown keys are errors naming the file and key
path, with the closest known key; a key given twice in one mapping is an error naming the key and its
line (YAML and JSON would silently keep the last one). Relative paths in the file are relative to the
working directory.
Files ending in ``.json`` are read with the standard library; YAML needs PyYAML (the ``[yaml]`` extra).
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any

from naq.connection._fields import FIELDS_BY_NAME, Layer, coerce, show_value
from naq.connection.errors import NaqConfigError

__all__ = ["read_config_file"]

_SECTION_KEYS = frozenset(name for name in FIELDS_BY_NAME if not name.startswith("tls.")) | {"tls"}
_TLS_KEYS = frozenset(name[4:] for name in FIELDS_BY_NAME if name.startswith("tls."))
_TOP_KEYS = frozenset({"nats", "profiles"})
# $${  -> literal ${   |   ${NAME} / ${NAME:default} / ${NAME:-default}   |   an unterminated ${
_INTERPOLATION = re.compile(r"\$\$\{|\$\{(?P<body>[^}]*)\}|\$\{")
_VAR_BODY = re.compile(r"(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-?(?P<default>.*))?", re.DOTALL)


def read_config_file(
    path: str | os.PathLike[str], environ: Mapping[str, str], how: str
) -> tuple[Layer, dict[str, Layer]]:
    """Parse ``path`` into the ``nats:`` layer and one layer per profile (only the keys each sets).

    ``how`` says how the file was chosen (``"environment variable NAQ_CONFIG_FILE"``), for errors.
    """
    filename = os.fspath(path)
    data = _parse(filename, how)
    if data is None:
        return {}, {}
    if not isinstance(data, Mapping):
        raise _file_error(filename, "", data, f"the top level must be a mapping, got {type(data).__name__}")
    keys = {str(k) for k in data}
    if keys & _TOP_KEYS or not keys <= _SECTION_KEYS:
        _reject_unknown(filename, "", keys, _TOP_KEYS, suggest=_SECTION_KEYS)
        section = data.get("nats")
        profiles = data.get("profiles")
    else:  # legacy flat shape: the whole file is the nats: section
        section, profiles = data, None
    reader = _SectionReader(filename, environ)
    base = reader.section(section, "nats")
    profile_layers: dict[str, Layer] = {}
    if profiles is not None:
        if not isinstance(profiles, Mapping):
            raise _file_error(filename, "profiles", profiles, "must be a mapping of profile name -> settings")
        for name, body in profiles.items():
            if not isinstance(name, str) or not name:
                raise _file_error(filename, "profiles", name, "profile names must be non-empty strings")
            profile_layers[name] = reader.section(body, f"profiles.{name}")
    return base, profile_layers


def _parse(filename: str, how: str) -> Any:
    try:
        with open(filename, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise NaqConfigError(
            f"config file {filename!r} (from {how}) does not exist",
            field="config file",
            source=how,
            value=repr(filename),
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise NaqConfigError(
            f"cannot read config file {filename!r} (from {how}): {type(exc).__name__}: {exc}",
            field="config file",
            source=how,
            value=repr(filename),
        ) from None
    if filename.lower().endswith(".json"):
        try:
            data = json.loads(text) if text.strip() else None
        except json.JSONDecodeError as exc:
            # exc.msg and the position only: the offending line may hold a secret
            raise _file_error(filename, "", None, f"invalid JSON: {exc.msg} at line {exc.lineno}") from None
        if data is not None:
            _json_duplicates(filename, text)
        return data
    try:
        import yaml
    except ImportError:
        raise NaqConfigError(
            f"config file {filename!r} is YAML, which needs PyYAML: pip install 'naq-connection-core[yaml]' "
            "(or use a .json file)",
            field="config file",
            source=how,
            value=repr(filename),
        ) from None
    try:
        return yaml.load(text, Loader=_unique_key_loader(yaml))  # noqa: S506 - a SafeLoader subclass
    except _DuplicateKey as dup:
        raise _duplicate_error(filename, dup) from None
    except yaml.YAMLError as exc:
        # problem and position only: PyYAML's full message quotes the line, which may hold a secret
        problem = getattr(exc, "problem", None) or type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise _file_error(filename, "", None, f"invalid YAML: {problem}{where}") from None


class _DuplicateKey(Exception):
    """A mapping sets ``key`` twice: at ``first`` and again at ``line`` (1-based)."""

    def __init__(self, key: object, line: int, first: int) -> None:
        super().__init__(key, line, first)
        self.key, self.line, self.first = key, line, first


def _duplicate_error(filename: str, dup: _DuplicateKey) -> NaqConfigError:
    return NaqConfigError(
        f"{filename}: duplicate key {str(dup.key)!r} at line {dup.line} (first set at line {dup.first}); "
        "remove one of them",
        field=str(dup.key),
        source=f"{filename}: line {dup.line}",
        value=None,
    )


_loaders: dict[int, Any] = {}


def _unique_key_loader(yaml: Any) -> Any:
    """PyYAML's SafeLoader, refusing a key set twice in one mapping (merge keys ``<<`` excepted)."""
    loader = _loaders.get(id(yaml))
    if loader is not None:
        return loader

    class UniqueKeyLoader(yaml.SafeLoader):  # type: ignore[misc]
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[object, int] = {}
            for key_node, _value in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    if key in seen:
                        raise _DuplicateKey(key, line, seen[key])
                    seen[key] = line
                except TypeError:  # an unhashable key: PyYAML reports it itself
                    continue
            return super().construct_mapping(node, deep)

    _loaders[id(yaml)] = UniqueKeyLoader
    return UniqueKeyLoader


def _json_duplicates(filename: str, text: str) -> None:
    """Walk valid JSON ``text`` and raise the NaqConfigError for the first key set twice in one object."""
    decoder = json.JSONDecoder()
    space = re.compile(r"[ \t\n\r]*")

    def skip(pos: int) -> int:
        match = space.match(text, pos)
        return match.end() if match else pos

    def walk(pos: int) -> int:
        pos = skip(pos)
        opener = text[pos]
        if opener not in "{[":
            return decoder.raw_decode(text, pos)[1]  # a scalar
        closer, pos = ("}" if opener == "{" else "]"), skip(pos + 1)
        seen: dict[str, int] = {}
        while text[pos] != closer:
            if opener == "{":
                line = text.count("\n", 0, pos) + 1
                key, pos = decoder.raw_decode(text, pos)
                if key in seen:
                    raise _duplicate_error(filename, _DuplicateKey(key, line, seen[key]))
                seen[key] = line
                pos = skip(skip(pos) + 1)  # past the colon
            pos = skip(walk(pos))
            if text[pos] == ",":
                pos = skip(pos + 1)
        return pos + 1

    walk(0)


def _file_error(filename: str, key: str, value: object, problem: str) -> NaqConfigError:
    where = f"{filename}: {key}" if key else filename
    shown = show_value(key or "file", value) if value is not None else None
    got = f" (got {shown})" if shown is not None else ""
    return NaqConfigError(f"{where}: {problem}{got}", field=key or None, source=where, value=shown)


def _reject_unknown(
    filename: str,
    prefix: str,
    keys: Iterable[str],
    known: frozenset[str],
    suggest: frozenset[str] = frozenset(),
) -> None:
    for key in sorted(keys):
        if key not in known:
            close = difflib.get_close_matches(key, sorted(known | suggest), n=1)
            if key in suggest:
                hint = "; move it under 'nats:' (top-level settings are read only without nats:/profiles:)"
            elif close:
                hint = f"; did you mean {close[0]!r}?"
            else:
                hint = f"; known keys: {', '.join(sorted(known))}"
            path = f"{prefix}.{key}" if prefix else key
            raise NaqConfigError(
                f"{filename}: unknown key {path!r}{hint}",
                field=path,
                source=f"{filename}: {path}",
                value=None,
            )


class _SectionReader:
    """Turns one ``nats:``-shaped mapping into a layer: unknown keys rejected, ${VAR} expanded, coerced."""

    def __init__(self, filename: str, environ: Mapping[str, str]) -> None:
        self.filename = filename
        self.environ = environ

    def section(self, body: object, prefix: str) -> Layer:
        layer: Layer = {}
        if body is None:
            return layer
        if not isinstance(body, Mapping):
            raise _file_error(self.filename, prefix, None, f"must be a mapping, got {type(body).__name__}")
        _reject_unknown(self.filename, prefix, (str(k) for k in body), _SECTION_KEYS)
        for key, value in body.items():
            if key == "tls":
                layer.update(self._tls(value, f"{prefix}.tls"))
            else:
                self._put(layer, str(key), value, f"{prefix}.{key}")
        return layer

    def _tls(self, body: object, prefix: str) -> Layer:
        layer: Layer = {}
        if body is None:
            return layer
        if not isinstance(body, Mapping):
            raise _file_error(self.filename, prefix, None, f"must be a mapping, got {type(body).__name__}")
        _reject_unknown(self.filename, prefix, (str(k) for k in body), _TLS_KEYS)
        for key, value in body.items():
            self._put(layer, f"tls.{key}", value, f"{prefix}.{key}")
        return layer

    def _put(self, layer: Layer, field: str, value: object, key_path: str) -> None:
        source = f"{self.filename}: {key_path}"
        if value is None:  # null = the default (in a profile: do not inherit this key)
            layer[field] = (None, source)
            return
        value = self._interpolate(value, key_path)
        layer[field] = (coerce(FIELDS_BY_NAME[field], value, source), source)

    def _interpolate(self, value: object, key_path: str) -> object:
        if isinstance(value, list):
            return [self._interpolate(item, key_path) for item in value]
        if not isinstance(value, str) or "${" not in value:
            return value
        return _INTERPOLATION.sub(lambda m: self._expand(m, key_path), value)

    def _expand(self, match: re.Match[str], key_path: str) -> str:
        token = match.group(0)
        if token == "$${":
            return "${"
        body = match.group("body")
        parsed = _VAR_BODY.fullmatch(body) if body is not None else None
        if parsed is None:
            raise NaqConfigError(
                f"{self.filename}: {key_path}: malformed interpolation {token!r}: "
                "use ${VAR} or ${VAR:default} (write $${ for a literal ${)",
                field=key_path,
                source=f"{self.filename}: {key_path}",
                value=repr(token),
            )
        name, default = parsed.group("name"), parsed.group("default")
        current = self.environ.get(name, "")
        if current != "":
            return current
        if default is not None:
            return default
        raise NaqConfigError(
            f"{self.filename}: {key_path} uses ${{{name}}} but environment variable {name} is not set; "
            f"set it or give a default: ${{{name}:default}}",
            field=key_path,
            source=f"{self.filename}: {key_path}",
            value=None,
        )
