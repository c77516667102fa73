"""The ``mlmix`` command.

    mlmix fit SPEC.yaml [--json OUT]   fit the model of a YAML/JSON spec (its ``data`` CSV is
                                       read relative to the spec file) and print the summary
    mlmix fit MODEL.inp [--json OUT]   the same for an Mplus mixture input (docs/mplus.md)
    mlmix demo [--json OUT]            fit the embedded LSAT example (2-class LCA)
    mlmix warmup [MODEL ...]           compile, once per machine, the C modules that models of
                                       every family share (``mlmix_pymc/warmup.py``; ~3 min
                                       on 2 cores); first fits of new models are then faster

Both take ``--save-probabilities FILE`` (posterior class probabilities and the most likely
class of every input row as CSV, as Mplus's SAVEDATA) and ``--save FILE`` (the whole result,
read back with ``mlmix_pymc.load_result``).
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

ANALYSIS_OPTIONS = ("method", "starts", "seed", "se", "st_iterations", "max_iter", "reorder", "start_values",
                    "integration", "points", "factor_points")


def main(argv=None) -> int:
    """Entry point of the ``mlmix`` console script; returns the exit status."""
    parser = argparse.ArgumentParser(prog="mlmix", description="Multilevel mixture models (mlmix_pymc)")
    sub = parser.add_subparsers(dest="command", required=True)
    p_fit = sub.add_parser("fit", help="fit the model described by a YAML or JSON spec")
    p_fit.add_argument("spec", help="spec file (.yaml/.yml/.json) naming its CSV under 'data', or an Mplus input (.inp)")
    p_fit.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p_demo = sub.add_parser("demo", help="fit the embedded example data set (LSAT, 2-class LCA)")
    p_demo.add_argument("--json", metavar="OUT", help="also write the results as JSON to OUT")
    p_warm = sub.add_parser("warmup", help="compile once the C modules shared by models of every family")
    p_warm.add_argument("models", nargs="*", metavar="MODEL", help="names of mlmix_pymc.warmup.MODELS (default: all)")
    for p in (p_fit, p_demo):
        p.add_argument("--save-probabilities", metavar="FILE",
                       help="write the posterior class probabilities and most likely class per row as CSV")
        p.add_argument("--save", metavar="FILE",
                       help="save the result (spec, data, estimates) for mlmix_pymc.load_result")
    args = parser.parse_args(argv)

    from .errors import MlmixError

    try:
        if args.command == "warmup":
            return run_warm_up(args.models or None)
        if args.json:
            check_output_path(args.json)  # before the fit, not after it
        if args.command == "demo":
            result = run_demo()
        else:
            result = run_spec_file(args.spec)
    except MlmixError as err:
        print(f"mlmix: error: {err}", file=sys.stderr)
        return 2
    print(result.summary())
    if args.json:
        try:
            Path(args.json).write_text(result.to_json(indent=2))
        except OSError as err:
            print(f"mlmix: error: cannot write {args.json!r}: {err.strerror}", file=sys.stderr)
            return 2
        print(f"\nresults written to {args.json}")
    if args.save_probabilities:
        result.posterior_probabilities().to_csv(args.save_probabilities, index_label="row")
        print(f"class probabilities written to {args.save_probabilities}")
    if args.save:
        result.save(args.save)
        print(f"result saved to {args.save}")
    return 0


def run_warm_up(models) -> int:
    """``mlmix warmup``: fit the warm-up models, one line each; returns the exit status."""
    from .warmup import warm_up

    print("mlmix warmup: compiling the C modules models of every family share (once per machine)")
    table = warm_up(models)
    print(f"done: {table['modules'].sum()} C modules in {table['seconds'].sum():.0f} s")
    return 0


def run_spec_file(path: str | Path):
    """Fit the model of a spec file; the CSV path in ``data`` is relative to the spec file."""
    import pandas as pd

    from .errors import SpecificationError
    from .spec import ModelSpec

    path = Path(path)
    if path.suffix.lower() == ".inp":
        return run_mplus_file(path)
    spec = ModelSpec.from_file(path)
    if not spec.data:
        raise SpecificationError(f"spec {str(path)!r} has no 'data' entry naming its CSV file")
    if not isinstance(spec.data, str):
        raise SpecificationError(f"'data' in spec {str(path)!r} must be the path of a CSV file, got {spec.data!r}")
    csv = (path.parent / spec.data).resolve()
    if not csv.exists():
        raise SpecificationError(f"data file {str(csv)!r} named in spec {str(path)!r} does not exist")
    return fit_spec(spec, read_csv(csv))


def run_mplus_file(path: Path):
    """Fit the mixture model of an Mplus input; its DATA FILE is read relative to the input."""
    from .mplus import from_mplus

    model = from_mplus(path)
    return fit_spec(model.spec, model.frame)


def read_csv(csv: Path):
    """The data CSV as a DataFrame; an unreadable, empty or malformed file is a ``DataError``."""
    import pandas as pd

    from .errors import DataError

    if not csv.is_file():
        raise DataError(f"data file {str(csv)!r} is not a file (a directory?)")
    try:
        return pd.read_csv(csv)
    except pd.errors.EmptyDataError:
        raise DataError(f"data file {str(csv)!r} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"data file {str(csv)!r} is not a readable CSV: {first}") from None
    except OSError as err:
        raise DataError(f"cannot read data file {str(csv)!r}: {err.strerror}") from None


def check_output_path(out: str) -> None:
    """The ``--json`` target must be writable: its directory exists and it is not a directory."""
    import os

    from .errors import SpecificationError

    target = Path(out)
    folder = target.parent if str(target.parent) else Path(".")
    if target.is_dir():
        raise SpecificationError(f"--json {out!r} is a directory; give a file name")
    if not folder.is_dir():
        raise SpecificationError(f"--json {out!r}: directory {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise SpecificationError(f"--json {out!r}: directory {str(folder)!r} is not writable")


def run_demo():
    """Fit the shipped example spec on the embedded LSAT data."""
    from importlib import resources

    from .datasets import load_lsat
    from .spec import ModelSpec

    spec = ModelSpec.from_yaml(resources.files("mlmix_pymc.examples").joinpath("lsat_lca.yaml").read_text())
    return fit_spec(spec, load_lsat())


def fit_spec(spec, data):
    """Bind ``spec`` to ``data`` and fit it with the options of its ``analysis`` section."""
    from .errors import SpecificationError
    from .model import Model

    options = dict(spec.analysis)
    unknown = set(options) - set(ANALYSIS_OPTIONS)
    if unknown:
        raise SpecificationError(f"unknown analysis option(s) {sorted(unknown)}; allowed: {list(ANALYSIS_OPTIONS)}")
    if isinstance(options.get("starts"), list):
        options["starts"] = tuple(options["starts"])
    model = Model(spec, data)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the summary repeats every warning
        return model.fit(**options)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
