"""In-memory file system with power-cut injection.

Every byte written counts; when the running total reaches `cut_at` the current write stops
after that many bytes of it (the file is left truncated/torn, as on FAT; littlefs would
keep the old file, which is the easier case) and PowerCut is raised. The surviving files
are then handed to a fresh boot, as after a real cut.
"""


class PowerCut(Exception):
    pass


class MemFS:
    def __init__(self, files=None, cut_at=None):
        self.files = dict(files or {})
        self.cut_at = cut_at
        self.written = 0
        self.writes = 0

    def _consume(self, data):
        if self.cut_at is None or self.written + len(data) <= self.cut_at:
            self.written += len(data)
            return data, False
        keep = self.cut_at - self.written
        self.written = self.cut_at
        return data[:keep], True

    def read(self, name):
        return self.files.get(name)

    def write(self, name, data):
        self.writes += 1
        self.files[name] = b""  # open('wb') truncates first
        part, cut = self._consume(bytes(data))
        self.files[name] = part
        if cut:
            raise PowerCut(name)

    def append(self, name, data):
        self.writes += 1
        part, cut = self._consume(bytes(data))
        self.files[name] = self.files.get(name, b"") + part
        if cut:
            raise PowerCut(name)

    def remove(self, name):
        self.files.pop(name, None)

    def rename(self, old, new):
        self.files[new] = self.files.pop(old)

    def listdir(self):
        return list(self.files)

    def survivor(self):
        """The files as they are after the cut, for the next boot."""
        return MemFS(self.files)
