"""The exceptions hotwatch raises; ``hotwatch.cli.main`` turns each into one line and an
exit status, and is the only place that does.

Every error a user can meet derives from :class:`HotwatchError`. Anything else that reaches
the CLI is a bug, and shows its traceback.
"""


class HotwatchError(Exception):
    """Base class of hotwatch's own errors: one line for the user, exit status 1."""

    #: the exit status of a command that ends with this error
    exit_status = 1
    #: the line names the command ("hotwatch tray: ...") rather than hotwatch ("hotwatch: ...")
    names_command = False


class UnsupportedFile(HotwatchError):
    """Not a photo hotwatch can use: the file is skipped (catalogue status 'skipped')."""


class UnreadableFile(HotwatchError):
    """Looked like a photo but could not be read: truncated, corrupt (status 'failed')."""


class DamagedState(HotwatchError):
    """A persisted accumulator or catalogue failed its checks; it is set aside, never reused."""


class UserError(HotwatchError):
    """Something the user asked for cannot be done: print the message, exit 1."""


class CommandFailed(UserError):
    """A command could not do its job here (no display for the tray, no readable photo for a
    scan); the line names the command."""

    names_command = True


class DiskFull(HotwatchError):
    """The state folder's disk is full: nothing saved is lost, the rest is read again later."""

    def __init__(self, folder: object) -> None:
        super().__init__(
            f"the disk holding {folder} is full: hotwatch stopped without losing what it had "
            "saved; the photos since the last save will be read again once there is room"
        )
