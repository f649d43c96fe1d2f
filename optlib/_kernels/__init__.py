"""Private jitted kernels: flat float arrays and scalars in, updates in place.

Nothing here validates its input; the public modules do that before calling in.

Numba's on-disk cache (``cache=True``) checks only the source file of the function it
caches. A kernel that calls a kernel from another file (the trajectory loop calls the
test functions and the update rules) would keep running the *old* callee after that
file changed. To make that impossible, importing this package hashes every kernel
source file and, when the hash differs from the one recorded beside the cache, deletes
the cached machine code so that everything recompiles once.
"""

import hashlib
from pathlib import Path


def _drop_stale_cache():
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for src in sorted(here.glob("*.py")):
        digest.update(src.name.encode() + src.read_bytes())
    cache = here / "__pycache__"
    stamp = cache / "optlib-kernels.sha256"
    try:
        if stamp.exists() and stamp.read_text() == digest.hexdigest():
            return
        for stale in list(cache.glob("*.nbi")) + list(cache.glob("*.nbc")):
            stale.unlink()
        cache.mkdir(exist_ok=True)
        stamp.write_text(digest.hexdigest())
    except OSError:  # a read-only install: numba then caches elsewhere or not at all
        pass


_drop_stale_cache()
