import CBindShim
import SystemPackage

// Every CBindShim function answers a value >= 0 or -errno (it never leaves the answer in the
// global errno, which the Swift runtime may change before Swift reads it). These turn that answer
// into a `Result`, the form of the internal half of each wrapper.

/// `r` when it is not negative, else the `Errno` of `-r`.
func shimResult(_ r: Int32) -> Result<Int32, Errno> {
    r < 0 ? .failure(Errno(rawValue: -r)) : .success(r)
}

/// `r` when it is not negative, else the `Errno` of `-r`.
func shimResult(_ r: Int64) -> Result<Int64, Errno> {
    r < 0 ? .failure(Errno(rawValue: Int32(clamping: -r))) : .success(r)
}

/// Success when `r` is not negative, else the `Errno` of `-r`.
func shimVoid(_ r: Int32) -> Result<Void, Errno> {
    r < 0 ? .failure(Errno(rawValue: -r)) : .success(())
}

extension Errno {
    /// The symbolic name, e.g. `EADDRINUSE` (`errno 200` for a number Linux has no name for).
    package var name: String { ErrnoName.name(rawValue) ?? "errno \(rawValue)" }
}
