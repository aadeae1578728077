import Glibc

/// A value behind a pthread mutex, for state the matrix and soak workers share.
///
/// Not `Synchronization.Mutex`: on Linux its lock and unlock live in the toolchain's prebuilt,
/// uninstrumented library, so ThreadSanitizer sees no ordering between two threads' accesses under
/// it and reports a race that is not there. ThreadSanitizer intercepts pthread mutexes.
package final class Locked<Value>: @unchecked Sendable {
    private var value: Value
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)

    package init(_ value: Value) {
        self.value = value
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Runs `body` with the value, the lock held.
    package func withLock<R>(_ body: (inout Value) throws -> R) rethrows -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}
