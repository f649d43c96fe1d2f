"""Private jitted kernels: flat float arrays and scalars in, updates in place.

Nothing here validates its input; the public modules do that before calling in.
"""
