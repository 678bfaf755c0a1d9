"""User-facing errors: the CLI prints these as one line and exits non-zero, without a traceback."""


def one_line(text: object) -> str:
    """``text`` as one printable line: control characters (newlines, terminal escape sequences from a hostile
    file or folder name) shown escaped, so an error stays the one line it promises to be."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))


class EbmbenchError(Exception):
    """A problem the user can fix (bad input, missing file, wrong option); shown as one line."""

    exit_code = 2


class CheckpointError(EbmbenchError):
    """A checkpoint file that cannot be loaded safely or does not match its own description."""


class DataError(EbmbenchError):
    """A dataset that is missing, malformed or does not fit the model."""


class DivergenceError(EbmbenchError):
    """Training produced non-finite or exploding energies."""

    exit_code = 3


class CapabilityError(EbmbenchError):
    """A suite needs something from a model that the model cannot do."""


class Terminated(KeyboardInterrupt):
    """SIGTERM (what Slurm, CI runners and `kill` send), raised like Ctrl-C so that a run stops the same way:
    finished units kept, the manifest marked ``interrupted``, resumable."""
