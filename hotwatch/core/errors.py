"""The few exceptions hotwatch raises; the CLI turns them into one line each."""


class HotwatchError(Exception):
    """Base class of hotwatch's own errors."""


class UnsupportedFile(HotwatchError):
    """Not a photo hotwatch can use: the file is skipped (catalogue status 'skipped')."""


class UnreadableFile(HotwatchError):
    """Looked like a photo but could not be read: truncated, corrupt (status 'failed')."""


class DamagedState(HotwatchError):
    """A persisted accumulator or catalogue failed its checks; it is set aside, never reused."""


class UserError(HotwatchError):
    """Something the user asked for cannot be done: print the message, exit 1."""


class DiskFull(HotwatchError):
    """The state folder's disk is full: nothing saved is lost, the rest is read again later."""

    def __init__(self, folder: object) -> None:
        super().__init__(
            f"the disk holding {folder} is full: hotwatch stopped without losing what it had "
            "saved; the photos since the last save will be read again once there is room"
        )
