"""The few file operations the firmware needs, over the board's VFS (or a host directory).

Everything else (persist, ring, config) takes an object with this interface, so the tests
can substitute firmware.host.fakefs.MemFS, which tears a write at any byte to simulate a
power cut.
"""

import os


class VfsFS:
    def __init__(self, root=""):
        self.root = root

    def _p(self, name):
        return self.root + "/" + name if self.root else name

    def read(self, name):
        """Whole file as bytes, or None if it does not exist."""
        try:
            with open(self._p(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def write(self, name, data):
        """Replace the file. Not atomic: a cut may leave it truncated or torn."""
        with open(self._p(name), "wb") as f:
            f.write(data)

    def append(self, name, data):
        with open(self._p(name), "ab") as f:
            f.write(data)

    def remove(self, name):
        try:
            os.remove(self._p(name))
        except OSError:
            pass

    def rename(self, old, new):
        self.remove(new)
        os.rename(self._p(old), self._p(new))

    def size(self, name):
        """Bytes in the file, or -1 if it does not exist (without reading it)."""
        try:
            return os.stat(self._p(name))[6]
        except OSError:
            return -1

    def read_at(self, name, offset, n):
        """Up to n bytes from offset (streaming reads of large files; b"" at the end)."""
        try:
            with open(self._p(name), "rb") as f:
                f.seek(offset)
                return f.read(n)
        except OSError:
            return b""

    def mkdir(self, path):
        """Create a directory and its parents; existing ones are fine."""
        cur = ""
        for part in path.split("/"):
            if not part:
                continue
            cur = cur + "/" + part if cur else part
            try:
                os.mkdir(self._p(cur))
            except OSError:
                pass

    def listdir(self):
        try:
            return os.listdir(self.root if self.root else "/")
        except OSError:
            return []
