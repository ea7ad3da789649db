"""Errors a user can act on.

Raise these (never a bare KeyError or ValueError) for mistakes in what the user
gave: a config, a dataset, a checkpoint, a file. The message names the thing
and the fix. Command-line tools print them as one line on stderr and exit with
status 2 (`experiments/cli.py`); every other exception is a bug and keeps its
traceback.
"""


class UserError(Exception):
  """A mistake in the user's input, with a message that says how to fix it."""

  def __str__(self) -> str:
    # KeyError's str() quotes its message; these never are keys.
    return str(self.args[0]) if self.args else ""


class ConfigError(UserError, KeyError, ValueError):
  """An unknown config key or name, or a value of the wrong type or outside its choices.

  Also a KeyError and a ValueError, what such mistakes raised before, so that
  code catching those keeps working.
  """


class DataError(UserError):
  """Missing, incomplete or corrupt data: an archive, an image, a mask, a split."""


class CheckpointError(UserError):
  """A missing checkpoint, or one that does not fit the config's model and optimiser."""
