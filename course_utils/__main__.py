"""Command line: ``python -m course_utils <command>``.

    doctor            report on this machine and the models it gets
    zoo build         generate the corpus, train the tokenizer and the course models
    exercises build   generate exercises/ from solutions/ (exercises check: are they in sync?)
    finetune          lesson 08's fine-tuning grid, written to models/finetune/results.json
    memorisation      lesson 11's canary-exposure grid, written to models/memorisation/results.json
    distill           lesson 13's distillation runs, written to models/distillation/results.json
    launch sync|check the Colab bootstrap cell and the Colab/Binder badges in every notebook, from one source
    evidence ACTION   lesson 12's evidence: 'reference' rebuilds models/evidence/, 'show' lists what is recorded
    download NAME     fetch a catalog model from the hub into the local cache (online only)
"""

from __future__ import annotations

import argparse
import sys


def _doctor(args: argparse.Namespace) -> int:
    from course_utils.doctor import run_doctor

    return run_doctor(check_hub=not args.no_network)


def _zoo(args: argparse.Namespace) -> int:
    from course_utils.zoo import build

    return build.main(args.zoo_args) or 0


def _exercises(args: argparse.Namespace) -> int:
    from course_utils import exercises

    return exercises.main(args.exercise_args)


def _finetune(args: argparse.Namespace) -> int:
    from course_utils import finetune_results

    return finetune_results.run_from_args(args)


def _memorisation(args: argparse.Namespace) -> int:
    from course_utils import memorisation

    return memorisation.run_from_args(args)


def _distill(args: argparse.Namespace) -> int:
    from course_utils import distillation_results

    return distillation_results.run_from_args(args)


def _launch(args: argparse.Namespace) -> int:
    from course_utils import launch

    return launch.main(args.launch_args)


def _evidence(args: argparse.Namespace) -> int:
    from course_utils import evidence

    return evidence.main(args.evidence_args)


def _download(args: argparse.Namespace) -> int:
    from course_utils.loading import download_model

    return download_model(args.name)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="report on this machine and the models it gets")
    p.add_argument("--no-network", action="store_true", help="skip the hub reachability check")
    p.set_defaults(func=_doctor)

    p = sub.add_parser("zoo", help="build the offline world: corpus, tokenizer, course models")
    p.add_argument("zoo_args", nargs=argparse.REMAINDER, help="e.g. 'build --help'")
    p.set_defaults(func=_zoo)

    p = sub.add_parser("exercises", help="generate exercises/ from solutions/ ('build'), or 'check' sync")
    p.add_argument("exercise_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_exercises)

    p = sub.add_parser("finetune", help="run lesson 08's fine-tuning grid and write models/finetune/results.json")
    from course_utils.finetune_results import add_arguments

    add_arguments(p)
    p.set_defaults(func=_finetune)

    p = sub.add_parser("memorisation", help="run lesson 11's canary grid and write models/memorisation/results.json")
    from course_utils.memorisation import add_arguments as add_memorisation_arguments

    add_memorisation_arguments(p)
    p.set_defaults(func=_memorisation)

    p = sub.add_parser("distill", help="run lesson 13's distillation runs and write models/distillation/results.json")
    from course_utils.distillation_results import add_arguments as add_distill_arguments

    add_distill_arguments(p)
    p.set_defaults(func=_distill)

    p = sub.add_parser("launch", help="'sync' the Colab bootstrap cell and badges into every notebook, or 'check'")
    p.add_argument("launch_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_launch)

    p = sub.add_parser("evidence", help="lesson 12's evidence: 'reference' rebuilds models/evidence/, 'show' lists it")
    p.add_argument("evidence_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_evidence)

    p = sub.add_parser("download", help="download a catalog model (needs the hub)")
    p.add_argument("name")
    p.set_defaults(func=_download)

    args = parser.parse_args(argv)
    from course_utils.errors import CourseError

    try:
        return args.func(args)
    except CourseError as exc:  # a learner's mistake: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
