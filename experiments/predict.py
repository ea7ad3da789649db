r"""Predicts lesion masks with a trained run, in the ISIC submission format.

  python -m experiments.predict --workdir runs/unet_synthetic --input photos/ --out masks/
  python -m experiments.predict --workdir runs/cdnn_isic2017_cv --input isic2017:test \
      --out masks/ --tta flip --overlays --save_probabilities

`--input` is a folder of images (JPEG, PNG, BMP, TIFF; other files are ignored
and listed) or DATASET[/BUILDER_CONFIG]:SPLIT of a registered TFDS dataset.
Writes `<id>_segmentation.png` per image (0/255 at the image's size; the id is
the file name's stem), with `--save_probabilities` `<id>_probability.png`, with
`--overlays` `<id>_overlay.jpg` and `contact_sheet.jpg`, and `predictions.csv`
(id, width, height, lesion-area fraction, error). A cross-validation workdir
predicts with the ensemble of its fold models (jaxseg/inference.py).

Exit status: 0; 1 when some images could not be read (named on stderr and in
predictions.csv; the others are predicted); 2 for a mistake in what was given
(no images, no checkpoint or config.json, --out a file), with one `error:` line.
"""

import sys

from absl import flags

from experiments import cli
from jaxseg import inference, postprocess
from jaxseg.train import checkpoints, summary

_WORKDIR = flags.DEFINE_string("workdir", None, "The --workdir of a trained run.")
_INPUT = flags.DEFINE_string("input", None, "A folder of images, or DATASET:SPLIT (TFDS).")
_OUT = flags.DEFINE_string("out", None, "Output folder (made if missing).")
_TTA = flags.DEFINE_string("tta", "none", "Test-time augmentation: none or flip.")
_POSTPROCESS = flags.DEFINE_string(
  "postprocess", None, "none (threshold 0.5) or dual_threshold; default: the run's evals.test."
)
_OVERLAYS = flags.DEFINE_bool("overlays", False, "Also write outlines on the images.")
_SAVE_PROBABILITIES = flags.DEFINE_bool(
  "save_probabilities", False, "Also write the foreground probability as 8-bit PNG."
)
_DATA_DIR = flags.DEFINE_string("data_dir", None, "TFDS data dir for DATASET:SPLIT input.")


def main():
  summary.quiet_library_logs()
  # Mistakes in what was given end the command before the model loads.
  inference.check_tta_mode(_TTA.value)
  if _POSTPROCESS.value:
    postprocess.get_postprocessor(_POSTPROCESS.value)
  inference.check_output_dir(_OUT.value)
  config = checkpoints.read_run_config(_WORKDIR.value)
  images, ignored = inference.images_of_input(config, _INPUT.value, _DATA_DIR.value)
  if ignored:
    print(f"Ignored, not images ({len(ignored)}): {', '.join(ignored)}", file=sys.stderr)
  run = inference.load_run_for_inference(_WORKDIR.value, named_by="--workdir")
  records = inference.write_predictions(
    run,
    images,
    _OUT.value,
    tta=_TTA.value,
    postprocess_name=_POSTPROCESS.value,
    save_probabilities=_SAVE_PROBABILITIES.value,
    write_overlays=_OVERLAYS.value,
  )
  failed = [r for r in records if r.error]
  print(
    f"Wrote {len(records) - len(failed)} masks to {_OUT.value} "
    f"({len(run.member_dirs)} model{'s' if len(run.member_dirs) > 1 else ''})."
  )
  if failed:
    for record in failed:
      print(f"failed: {record.id}: {record.error}", file=sys.stderr)
    print(f"{len(failed)} of {len(records)} images could not be predicted.", file=sys.stderr)
    sys.exit(1)


if __name__ == "__main__":
  cli.app_main(main, takes_config=False, required=("workdir", "input", "out"))
