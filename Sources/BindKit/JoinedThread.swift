import Glibc
import SystemPackage

/// A thread of its own, for work that changes what belongs to one thread only (its network
/// namespace, its effective uid and capabilities): the thread ends with the work, so nothing it
/// changed outlives it, and it is joined (pthread_join, which Foundation's `Thread` does not offer)
/// before its result is read. A thread not joined explicitly is joined when this is released.
package final class JoinedThread<T> {
    private var thread: pthread_t?
    private let outcome: Outcome

    /// Where the thread leaves what `body` returned or threw; read only after the join.
    private final class Outcome {
        var result: Result<T, any Error> = .failure(Errno.noSuchProcess)
    }

    /// Starts `body` on a new thread with an 8 MiB stack. The corresponding C function is
    /// pthread_create(3).
    package init(_ body: @escaping () throws -> T) throws(Errno) {
        let outcome = Outcome()
        self.outcome = outcome
        // A C thread start takes one pointer: a boxed closure that stores the result.
        let start = Unmanaged.passRetained(Start { outcome.result = Result { try body() } }).toOpaque()
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        defer { pthread_attr_destroy(&attributes) }
        pthread_attr_setstacksize(&attributes, 8 << 20)
        var thread = pthread_t()
        let r = pthread_create(
            &thread, &attributes,
            { context in
                if let context { Unmanaged<Start>.fromOpaque(context).takeRetainedValue().run() }
                return nil
            }, start)
        if r != 0 {
            Unmanaged<Start>.fromOpaque(start).release()
            throw Errno(rawValue: r)
        }
        self.thread = thread
    }

    /// Waits until the thread has ended, and returns what `body` returned or threw. The
    /// corresponding C function is pthread_join(3).
    package func join() -> Result<T, any Error> {
        if let t = thread {
            pthread_join(t, nil)  // the thread's writes happen before the join returns
            thread = nil
        }
        return outcome.result
    }

    deinit { _ = join() }

    /// Runs `body` on a thread of its own and returns what it returned or threw once that thread
    /// has ended.
    package static func run(_ body: @escaping () throws -> T) throws(Errno) -> Result<T, any Error> {
        try JoinedThread(body).join()
    }
}

/// What a joined thread runs.
private final class Start {
    let run: () -> Void
    init(_ run: @escaping () -> Void) { self.run = run }
}
