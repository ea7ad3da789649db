"""The one way to derive a config: a copy with dotted keys set, type-checked.

  derived = derive_config(config, {"optimizer.lr": 3e-4, "dataset.name": "isic2017"})
  derived = derive_config(config, {"input.image_size": "128,128"})  # text, as typed on a CLI

`--config.key=value` on every command line, ablation rows, cross-validation
folds and tests all go through `derive_config`. A key the config lacks, a
section set as if it were a value, or a value of another type is a
`ConfigError` that names the key and what it expects; text is parsed as the
key's current type (bools as true/false, tuples as `a,b` or `(a, b)`). A
section (`model`) takes a mapping, which replaces it whole (an ablation row
that switches the model).
"""

import ast
import copy
from collections.abc import Mapping

import ml_collections

from jaxseg.errors import ConfigError

OVERRIDE_PREFIX = "--config."


def derive_config(
  config: ml_collections.ConfigDict, overrides: Mapping[str, object]
) -> ml_collections.ConfigDict:
  """A copy of `config` (locked like it) with each dotted key of `overrides` set."""
  derived = copy.deepcopy(config)
  for key, value in overrides.items():
    section = isinstance(value, (Mapping, ml_collections.ConfigDict))
    parent, leaf = _parent_of(derived, key, replacing_section=section)
    if section:  # a whole section, e.g. another model's fields
      with derived.unlocked():
        parent[leaf] = ml_collections.ConfigDict(
          value.to_dict() if isinstance(value, ml_collections.ConfigDict) else dict(value)
        )
      continue
    expected = parent.get_type(leaf)
    current = parent[leaf]
    with derived.unlocked():
      parent[leaf] = _coerce(key, value, expected, current, config.get("name", ""))
  return derived


def split_override_args(argv: list[str]) -> tuple[list[str], dict[str, str]]:
  """Takes `--config.key=value` (or `--config.key value`) out of argv: (rest, {key: text})."""
  rest, overrides, i = [], {}, 0
  while i < len(argv):
    token = argv[i]
    if not token.startswith(OVERRIDE_PREFIX):
      rest.append(token)
      i += 1
      continue
    key, sep, text = token.removeprefix(OVERRIDE_PREFIX).partition("=")
    if not sep:
      if i + 1 >= len(argv) or argv[i + 1].startswith("--"):
        raise ConfigError(f"{token} needs a value: {OVERRIDE_PREFIX}{key}=VALUE.")
      text, i = argv[i + 1], i + 1
    overrides[key] = text
    i += 1
  return rest, overrides


def _parent_of(config: ml_collections.ConfigDict, key: str, replacing_section: bool = False):
  *parents, leaf = key.split(".")
  node, path = config, []
  for part in parents:
    path.append(part)
    child = node.get(part) if isinstance(node, ml_collections.ConfigDict) else None
    if not isinstance(child, ml_collections.ConfigDict):
      raise _unknown(config, key, node, ".".join(path[:-1]))
    node = child
  if leaf not in node:
    raise _unknown(config, key, node, ".".join(parents))
  if isinstance(node[leaf], ml_collections.ConfigDict) != replacing_section:
    if replacing_section:
      raise ConfigError(f"{key!r} of config {config.get('name', '')!r} is a value, not a section.")
    raise ConfigError(
      f"{key!r} is a section of config {config.get('name', '')!r}; set its keys: "
      f"{', '.join(f'{key}.{k}' for k in sorted(node[leaf]))}."
    )
  return node, leaf


def _unknown(config, key: str, node, section: str) -> ConfigError:
  prefix = f"{section}." if section else ""
  known = sorted(node) if isinstance(node, ml_collections.ConfigDict) else []
  return ConfigError(
    f"Unknown config key {key!r} in config {config.get('name', '')!r}; the keys "
    f"{'under ' + repr(section) if section else 'at the top'} are: "
    f"{', '.join(prefix + k for k in known)}."
  )


def _coerce(key: str, value, expected: type, current, config_name: str):
  """`value` as the type of the key's current value; text from a command line is parsed."""
  if expected is type(None) or current is None and expected in (type(None), object):
    return _literal(value) if isinstance(value, str) else value
  try:
    if isinstance(value, str) and expected is not str:
      value = _parse_text(value, expected, current)
    return _checked(value, expected, current)
  except (TypeError, ValueError) as error:
    raise ConfigError(
      f"Config key {key!r} of {config_name!r} takes a {expected.__name__} (now {current!r}); "
      f"got {value!r}: {error}"
    ) from None


def _parse_text(text: str, expected: type, current):
  if expected is bool:
    lowered = text.strip().lower()
    if lowered in ("true", "1", "yes"):
      return True
    if lowered in ("false", "0", "no"):
      return False
    raise ValueError("write true or false")
  if expected is int:
    return int(text)
  if expected is float:
    return float(text)
  if expected in (tuple, list):
    parsed = _literal(text)
    if not isinstance(parsed, (tuple, list)):
      parsed = tuple(part.strip() for part in text.split(",") if part.strip())
      parsed = tuple(_literal(part) for part in parsed)
    if current and all(isinstance(item, str) for item in current):
      parsed = tuple(str(item) for item in parsed)
    return parsed
  return text


def _literal(text: str):
  try:
    return ast.literal_eval(text)
  except (ValueError, SyntaxError):
    return text


def _checked(value, expected: type, current):
  if expected is float and isinstance(value, int) and not isinstance(value, bool):
    return float(value)
  if expected in (tuple, list) and isinstance(value, (tuple, list)):
    if current and value:
      kind = type(current[0])
      if not all(
        isinstance(item, kind) or kind is float and isinstance(item, int) for item in value
      ):
        raise TypeError(f"items must be {kind.__name__}")
    return tuple(value) if expected is tuple else list(value)
  if value is None and current is None:
    return None
  if isinstance(value, bool) != (expected is bool) or not isinstance(value, expected):
    raise TypeError(f"not a {expected.__name__}")
  return value
