"""Pieces shared by every command-line script: logging flags, common options, path prompts, error handling.

Every script's ``main`` goes through ``run``: a ``DlToolsError`` (bad input), or an ``OSError`` (a path the system
refused), prints ``error: <message>`` on one line and returns 2; ``-v`` adds the traceback. Ctrl-C returns 130.
"""

from __future__ import annotations

import argparse
import contextlib
import contextvars
import logging
import os
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from ..errors import DlToolsError, InputError
from ..provenance_record import command_line
from ..quiet_import import silence_tensorflow_import
from ..terminal import active_bars, display_available, progress_shown

log = logging.getLogger("dl_tools")


class OneLineErrorParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``error: <message> (see <prog> --help)``, exit code 2),
    like every other error of the scripts, instead of the usage block followed by the message."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


_COMMAND_NAME: contextvars.ContextVar[str | None] = contextvars.ContextVar("dl_tools_command_name", default=None)


@contextlib.contextmanager
def command_name(name: str) -> Iterator[None]:
    """Within the block, parsers call themselves ``name`` (``dl-tools retile``) instead of the script's name."""
    token = _COMMAND_NAME.set(name)
    try:
        yield
    finally:
        _COMMAND_NAME.reset(token)


def build_base_parser(prog: str, description: str, epilog: str | None = None) -> argparse.ArgumentParser:
    """An ArgumentParser with ``-v/--verbose`` and ``-q/--quiet``; the docstring-style description is kept as is.
    ``prog`` is the script's name, unless a ``command_name`` block names the ``dl-tools`` subcommand."""
    parser = OneLineErrorParser(
        prog=_COMMAND_NAME.get() or prog, description=description, epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("-v", "--verbose", action="store_true", help="more messages, and tracebacks on errors")
    group.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or progress messages (results, warnings and errors are still printed)")
    return parser


def field_default(params, name: str):
    """The default of field ``name`` of the params dataclass (or instance) ``params``: the one place it is written."""
    import dataclasses

    if not isinstance(params, type):
        return getattr(params, name)
    field = {f.name: f for f in dataclasses.fields(params)}[name]
    return field.default_factory() if field.default is dataclasses.MISSING else field.default


def take_defaults(parser: argparse.ArgumentParser, params, **renamed: str) -> argparse.ArgumentParser:
    """Give every option of ``parser`` whose destination is a field of ``params`` (a params dataclass, or an
    instance holding a step's chosen values), or is renamed to one (``dest="field"``), that field's default, so
    the dataclass is the single source of the defaults; help texts show them with ``%(default)s``."""
    import dataclasses

    names = {f.name for f in dataclasses.fields(params)}
    for action in parser._actions:
        field = renamed.get(action.dest, action.dest)
        if field in names and action.option_strings:  # options only: positionals are required
            action.default = field_default(params, field)
    return parser


def add_overwrite(parser: argparse.ArgumentParser, what: str = "existing outputs") -> None:
    """Add ``--overwrite``."""
    parser.add_argument("--overwrite", action="store_true", help=f"replace {what} (refused otherwise)")


def add_seed(parser: argparse.ArgumentParser, default: int | None = 0) -> None:
    """Add ``--seed N`` (random seed for reproducible runs)."""
    parser.add_argument("--seed", type=seed_int, default=default,
                        help="random seed, for reproducible results (default %(default)s)")


def add_bootstrap(parser: argparse.ArgumentParser) -> None:
    """Add ``--bootstrap N`` (resamples of photographs for the 95 % intervals; its default from the step's params
    via ``take_defaults``)."""
    parser.add_argument("--bootstrap", type=integer, metavar="N",
                        help="resamples of the photographs for the 95 %% confidence interval of every score "
                             "(default %(default)s; 0: no intervals)")


class _BarAwareHandler(logging.Handler):
    """Writes each message to the current stderr; while progress bars are shown, through ``tqdm.write``, which
    moves the bars out of the way instead of gluing the message to them."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = self.format(record)
            tqdm = sys.modules.get("tqdm")  # imported only by progress(): no bar can be shown without it
            if tqdm is not None and active_bars():
                tqdm.tqdm.write(message, file=sys.stderr)
            else:
                print(message, file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging's own rule: a message that cannot be written never stops the run
            self.handleError(record)


class _PlainFormatter(logging.Formatter):
    """The message alone, after ``warning: `` for a warning (as errors start with ``error: ``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        return f"warning: {text}" if record.levelno == logging.WARNING else text


def setup_logging(verbose: bool = False, quiet: bool = False) -> None:
    """Log to stderr: INFO by default, DEBUG with -v, WARNING with -q (``run`` also hides progress bars then)."""
    level = logging.DEBUG if verbose else logging.WARNING if quiet else logging.INFO
    root = logging.getLogger("dl_tools")
    root.handlers.clear()
    handler = _BarAwareHandler()
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s") if verbose else _PlainFormatter())
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False
    # TensorFlow's C++ log: errors only with -v; otherwise silent (it reports e.g. "failed call to cuInit" on
    # every machine without a GPU, which alarms users and means nothing: the CPU is used)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if verbose else "3")
    if not verbose:  # its start-up lines ignore that setting
        silence_tensorflow_import()


def run(parser: argparse.ArgumentParser, body: Callable[[argparse.Namespace], int | None],
        argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, set up logging and call ``body(args)``; turn expected errors into exit code 2."""
    args = parser.parse_args(argv)
    setup_logging(getattr(args, "verbose", False), getattr(args, "quiet", False))
    invoked = sys.argv if argv is None else [*parser.prog.split(), *argv]  # what provenance records give
    try:
        with progress_shown(not getattr(args, "quiet", False)), command_line(invoked):
            result = body(args)
    except (DlToolsError, OSError) as exc:
        for bar in active_bars():  # ends an interrupted bar's line, so the error starts a line of its own
            bar.close()
        if getattr(args, "verbose", False):
            traceback.print_exc()
        print(f"error: {_message(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        for bar in active_bars():
            bar.close()
        print("interrupted", file=sys.stderr)
        return 130
    return 0 if result is None else int(result)


def _message(exc: Exception) -> str:
    """The one-line message of a bad-input error, or of a file the system refused (no permission, a file where a
    folder is needed, a full disk...), which names the path."""
    if isinstance(exc, OSError) and exc.strerror:
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}; check the path and its permissions (-v shows where it happened)"
    return str(exc)


def ask_path(value: str | os.PathLike | None, flag: str, kind: str = "file", title: str | None = None,
             filetypes: Sequence[tuple[str, str]] | None = None) -> Path:
    """Return ``value`` as a Path; when it is None, ask with a Tk dialog if a display exists, else name ``flag``.

    kind: "file" (open an existing file), "dir" (choose a folder) or "save" (choose a new file name).
    """
    if value is not None:
        return Path(value)
    if not display_available():
        raise InputError(f"{flag} is required (no display for a file dialog): give {flag} PATH")
    try:
        import tkinter
        from tkinter import filedialog
    except ImportError as exc:
        raise InputError(f"{flag} is required (tkinter is not installed for a dialog): give {flag} PATH") from exc
    root = tkinter.Tk()
    root.withdraw()
    title = title or f"Select {flag.lstrip('-')}"
    try:
        if kind == "dir":
            chosen = filedialog.askdirectory(title=title)
        elif kind == "save":
            chosen = filedialog.asksaveasfilename(title=title)
        else:
            chosen = filedialog.askopenfilename(title=title, filetypes=list(filetypes or [("all files", "*")]))
    finally:
        root.destroy()
    if not chosen:
        raise InputError(f"no {kind} chosen for {flag}; give {flag} PATH")
    return Path(chosen)


def number_type(convert, accept, expected: str):
    """An argparse type: ``convert(text)`` (int or float) that ``accept(value)`` holds for (None: any value);
    otherwise the message "must be <expected>, got <text>".

    Where a params dataclass judges the range of a value (its ``__post_init__`` names the flag), the option
    converts only (``integer``, ``number``), so the range is checked in one place."""

    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be {expected}, got {text!r}") from None
        if accept is not None and not accept(value):
            raise argparse.ArgumentTypeError(f"must be {expected}, got {value}")
        return value

    return parse


integer = number_type(int, None, "an integer")
number = number_type(float, None, "a number")
positive_int = number_type(int, lambda v: v > 0, "a positive integer")
MAX_SEED = 2**32 - 1  # NumPy's and TensorFlow's global seeds are 32-bit
seed_int = number_type(int, lambda v: 0 <= v <= MAX_SEED, f"an integer from 0 to {MAX_SEED}")
unit_fraction = number_type(float, lambda v: 0.0 < v <= 1.0, "in (0, 1]")


def add_windowed_options(parser: argparse.ArgumentParser, window_flag: str = "--window", resume: bool = True) -> None:
    """Add the options of rasters processed by windows (``workflows.windowed.WindowedParams``, its defaults);
    ``window_flag`` names the window size where the step has a --window of its own, and ``resume`` False leaves
    out --resume where the step has one."""
    from ..workflows.windowed import CONTEXT_HALO, WindowedParams

    default = WindowedParams()
    group = parser.add_argument_group("GeoTIFFs larger than memory (labelled window by window)")
    group.add_argument("--max-megapixels", type=number, default=default.max_megapixels,
                       help="GeoTIFFs larger than this are read and labelled by windows, never whole, into a tiled "
                            "GeoTIFF and a reduced preview figure, without .mat or PNG outputs "
                            f"(default {default.max_megapixels:g})")
    group.add_argument(window_flag, dest="raster_window", type=integer, default=default.window,
                       help=f"size of a window's core in px, a multiple of 512 (default {default.window})")
    group.add_argument("--halo", type=integer, default=default.halo,
                       help="px of context read around each window's core (default: what the step needs, "
                            f"{CONTEXT_HALO} for a CRF or the hybrid method's tiles, 0 for infer.py's network alone)")
    if resume:
        group.add_argument("--resume", action="store_true",
                           help="continue an interrupted run from its last written window (same settings)")
    group.add_argument("--cog", action="store_true", help="convert the finished GeoTIFFs to Cloud Optimized GeoTIFFs")
    group.add_argument("--probabilities", action="store_true",
                       help="also write <name>_probabilities.tif: per-class probabilities, one uint8 band a class "
                            "(0-255 for 0-1)")


def windowed_params(args: argparse.Namespace):
    """The WindowedParams of parsed ``add_windowed_options`` options."""
    from ..workflows.windowed import WindowedParams

    return WindowedParams(window=args.raster_window, halo=args.halo, max_megapixels=args.max_megapixels,
                          resume=args.resume, cog=args.cog, probabilities=args.probabilities)


def band_list(text: str) -> tuple[int, ...]:
    """argparse type: comma-separated 1-based band numbers, e.g. ``3,2,1``."""
    try:
        bands = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be band numbers separated by commas, e.g. 3,2,1; got {text!r}") from None
    if len(bands) not in (1, 3) or min(bands) < 1:
        raise argparse.ArgumentTypeError(f"give one or three band numbers from 1, e.g. 3,2,1; got {text!r}")
    return bands


def add_cluster_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers``, ``--scheduler`` and ``--scheduler-file`` (``workflows.distributed.ClusterParams``): run the
    step's tasks on Dask instead of one after the other in this process."""
    group = parser.add_argument_group(
        "Dask (pip install \"dl_tools[dask]\"; inputs and outputs on a file system every worker shares, "
        "see docs/scaling.md)")
    group.add_argument("--workers", type=integer, metavar="N",
                       help="run the images (or windows) as tasks on a local Dask cluster of N worker processes, "
                            "each one task at a time, with cores // N threads for TensorFlow and the CRF")
    group.add_argument("--scheduler", metavar="ADDRESS",
                       help="run them on an existing Dask cluster, e.g. tcp://scheduler-host:8786 (its workers "
                            "should run `dask worker --nthreads 1`, with OMP_NUM_THREADS and "
                            "TF_NUM_INTRAOP_THREADS set to their cores)")
    group.add_argument("--scheduler-file", metavar="FILE",
                       help="as --scheduler, the address read from the file written by "
                            "`dask scheduler --scheduler-file FILE`")


def cluster_params(args: argparse.Namespace):
    """The ClusterParams of parsed ``add_cluster_options`` options."""
    from ..workflows.distributed import ClusterParams

    return ClusterParams(workers=args.workers, scheduler=args.scheduler, scheduler_file=args.scheduler_file)
