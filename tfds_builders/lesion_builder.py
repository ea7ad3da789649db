"""The base class of every lesion builder: what it declares, and its storage format.

Besides the usual TFDS attributes, a lesion builder says on its class, so that
it can be read without building anything (jaxseg's dataset registry does):

- `split_names()`: the names of its splits;
- `DIAGNOSES`: the class names of its `diagnosis` feature, in label order;
- `MELANOMA_DIAGNOSIS`: which of them is melanoma, or None where none is
  (jaxseg's melanoma / non-melanoma breakdown counts that class as melanoma
  and every other one except `unknown` as non-melanoma).

Every lesion builder stores `lesion_features.features(DIAGNOSES, ...)` and
writes array_record unless asked otherwise.
"""

from typing import ClassVar

import tensorflow_datasets as tfds


class LesionBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A lesion-segmentation dataset; subclasses set `DIAGNOSES`, `MELANOMA_DIAGNOSIS`, splits."""

  DIAGNOSES: ClassVar[tuple[str, ...]]
  MELANOMA_DIAGNOSIS: ClassVar[str | None]

  def __init__(self, *, file_format: str | tfds.core.FileFormat | None = None, **kwargs):
    super().__init__(file_format=file_format, **kwargs)
    # TFDS writes tfrecord unless told otherwise, and those files need
    # TensorFlow to read. Default to array_record instead, unless a format
    # was asked for or the dataset is already on disk in its own format
    # (`info.initialized` means it was restored from there).
    if file_format is None and not self.info.initialized:
      self.info.set_file_format(tfds.core.FileFormat.ARRAY_RECORD, override=True)

  @classmethod
  def split_names(cls) -> tuple[str, ...]:
    """The names of the dataset's splits, in order, known without building it."""
    raise NotImplementedError
