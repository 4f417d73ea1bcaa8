"""Command line: ``python -m course_utils <command>``.

    doctor            report on this machine and the models it gets (--class: ready for today's class?)
    zoo build         generate the corpus, train the tokenizer and the course models
    exercises build   generate exercises/ from solutions/ (exercises check: are they in sync?)
    finetune          lesson 08's fine-tuning grid, written to models/finetune/results.json
    memorisation      lesson 11's canary-exposure grid, written to models/memorisation/results.json
    distill           lesson 13's distillation runs, written to models/distillation/results.json
    launch sync|check the Colab bootstrap cell and the Colab/Binder badges in every notebook, from one source
    evidence ACTION   lesson 12's evidence: 'reference' rebuilds models/evidence/, 'show' lists what is recorded
    download          fetch models into the hub cache and lock their commits in models.lock
                      (NAME…, --tier T, --models A B; --check verifies the cache against the lock)
    hub serve DIR     serve a hub cache folder to a classroom as a model hub (HF_ENDPOINT)
    loadtest URL M    a class at once on a shared model server: time to first token, tokens/s, errors
    slides ACTION     'sync'/'check' each lesson's slide metadata; 'export N' writes offline reveal.js slides
    classroom         write classroom/: TLJH and Zero to JupyterHub configuration sized from the lessons' peaks
    instructor        write docs/instructor.md from the lessons and the measurements (--check: in sync?)
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _doctor(args: argparse.Namespace) -> int:
    if args.for_class:
        from course_utils.room_check import run_room_check

        return run_room_check(args.server, args.lessons)
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
    from course_utils import model_lock

    return model_lock.main(args)


def _loadtest(args: argparse.Namespace) -> int:
    from course_utils import server_load

    return server_load.main(args)


def _slides(args: argparse.Namespace) -> int:
    from course_utils import slides

    return slides.main(args.slides_args)


def _classroom(args: argparse.Namespace) -> int:
    from course_utils import class_config

    return class_config.main(["--check"] if args.check else [])


def _instructor(args: argparse.Namespace) -> int:
    from course_utils import instructor_guide

    return instructor_guide.main(["--check"] if args.check else [])


def _hub(args: argparse.Namespace) -> int:
    from course_utils import local_hub

    if args.root is None:
        from huggingface_hub import constants

        args.root = Path(constants.HF_HUB_CACHE)
    return local_hub.serve(args.root, args.host, args.port)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("doctor", help="report on this machine and the models it gets")
    p.add_argument("--no-network", action="store_true", help="skip the hub reachability check")
    p.add_argument("--class", dest="for_class", action="store_true",
                   help="the room check: is this machine ready for today's class (lock, memory, class server)?")
    p.add_argument("--server", help="with --class: the class's model server, e.g. http://10.0.0.5:8000/v1 "
                                    "(default: $COURSE_CLASS_SERVER)")
    p.add_argument("--lessons", nargs="+", help="with --class: today's lessons, e.g. 06 13 (default: all)")
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

    p = sub.add_parser("download", help="download models into the hub cache and lock their commits (needs the hub)")
    p.add_argument("names", nargs="*", help="catalog model names")
    p.add_argument("--models", nargs="+", help="catalog model names")
    p.add_argument("--tier", help="every model a tier may pick, e.g. binder or laptop-cpu")
    p.add_argument("--check", action="store_true", help="verify the hub cache against the lock; download nothing")
    p.add_argument("--lock", help="the lock file (default: models.lock next to the README, or $COURSE_MODELS_LOCK)")
    p.set_defaults(func=_download)

    p = sub.add_parser("hub", help="'serve' a hub cache folder as a model hub for a classroom")
    p.add_argument("action", choices=["serve"])
    p.add_argument("root", type=Path, nargs="?", help="a hub cache folder (default: this machine's)")
    p.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve the room's network")
    p.add_argument("--port", type=int, default=8090)
    p.set_defaults(func=_hub)

    p = sub.add_parser("loadtest", help="many learners streaming at once from a shared OpenAI-compatible server")
    p.add_argument("url", help="the server's base URL, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("model", help="the model name the server knows")
    p.add_argument("--clients", type=int, default=20, help="learners streaming at once")
    p.add_argument("--max-tokens", type=int, default=32)
    p.add_argument("--drop", type=int, default=2, help="learners who hang up mid-answer")
    p.add_argument("--api", choices=["completions", "chat"], default="completions")
    p.add_argument("--read-timeout", type=float, default=120.0, help="longest wait between two pieces (s)")
    p.add_argument("--server-cores", type=int, default=0, help="the server's cores, for the sizing line")
    p.set_defaults(func=_loadtest)

    p = sub.add_parser("slides", help="'sync'/'check' the lessons' slide metadata, or 'export N [--out DIR]'")
    p.add_argument("slides_args", nargs=argparse.REMAINDER)
    p.set_defaults(func=_slides)

    p = sub.add_parser("classroom", help="write classroom/ (TLJH, Zero to JupyterHub) sized from the lessons' peaks")
    p.add_argument("--check", action="store_true", help="only say whether classroom/ is in sync")
    p.set_defaults(func=_classroom)

    p = sub.add_parser("instructor", help="write docs/instructor.md from the lessons and the measurements")
    p.add_argument("--check", action="store_true", help="only say whether docs/instructor.md is in sync")
    p.set_defaults(func=_instructor)

    args = parser.parse_args(argv)
    from course_utils.errors import CourseError

    try:
        return args.func(args)
    except CourseError as exc:  # a learner's mistake: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
